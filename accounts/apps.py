from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_in, user_login_failed

        from accounts.logins import on_logged_in, on_login_failed

        user_login_failed.connect(on_login_failed, dispatch_uid="accounts.login_failed")
        user_logged_in.connect(on_logged_in, dispatch_uid="accounts.logged_in")

        from django.contrib.auth import get_user_model
        from django.db.models.signals import post_delete, post_save

        from accounts.services import api_keys_invalidate

        def user_changed(update_fields: frozenset[str] | None = None, **kwargs: object) -> None:
            # A deactivated or deleted user's keys stop at once (api/lean.py caches verified keys); a login's
            # last_login write does not flush every process's cache.
            if update_fields is None or "is_active" in update_fields:
                api_keys_invalidate()

        self.user_changed = user_changed  # signals hold their receivers weakly
        post_save.connect(user_changed, sender=get_user_model(), dispatch_uid="accounts.user_changed")
        post_delete.connect(user_changed, sender=get_user_model(), dispatch_uid="accounts.user_deleted")
