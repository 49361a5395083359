from django.apps import AppConfig


class ChatfilesConfig(AppConfig):
    name = "chatfiles"
    default_auto_field = "django.db.models.BigAutoField"
