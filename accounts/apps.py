from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_in, user_login_failed

        from accounts.logins import on_logged_in, on_login_failed

        user_login_failed.connect(on_login_failed, dispatch_uid="accounts.login_failed")
        user_logged_in.connect(on_logged_in, dispatch_uid="accounts.logged_in")
