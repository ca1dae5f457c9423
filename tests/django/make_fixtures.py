#!/usr/bin/env python3
"""Builds the Django fixtures authd's import tests use, with Django itself.

Usage: make_fixtures.py OUT_DIR

Creates a throwaway Django project in OUT_DIR (a custom user model that logs in
by email and has a full_name, rest_framework_simplejwt with its blacklist app,
every password hasher authd accepts), creates users with each hasher (and one
with an unusable password, one disabled), issues SimpleJWT tokens and
blacklists one, then writes:

  OUT_DIR/django.sqlite3   the Django database (users and blacklist tables)
  OUT_DIR/dumpdata.json    `manage.py dumpdata accounts.user token_blacklist`
  OUT_DIR/manifest.json    what the tests need to know: the SECRET_KEY, each
                           user's email, password and hasher, and the tokens

Tokens expire, so the fixtures are made when the tests run, never committed.
Needs Django, djangorestframework, djangorestframework-simplejwt, argon2-cffi
and bcrypt (the pinned versions are in .ci/run).
"""

import json
import os
import secrets
import sys
from datetime import timedelta
from pathlib import Path

MODELS = '''
from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.db import models
from django.utils import timezone


class UserManager(BaseUserManager):
    def create_user(self, email, password=None, **extra):
        user = self.model(email=self.normalize_email(email), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user


class User(AbstractBaseUser, PermissionsMixin):
    email = models.EmailField(unique=True)
    full_name = models.CharField(max_length=150, blank=True)
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(default=False)
    date_joined = models.DateTimeField(default=timezone.now)

    objects = UserManager()

    USERNAME_FIELD = "email"
    REQUIRED_FIELDS = []
'''

# Every hasher the import accepts; the first one is Django's default.
HASHERS = [
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.BCryptSHA256PasswordHasher",
    "django.contrib.auth.hashers.BCryptPasswordHasher",
]


def configure(out: Path, secret_key: str) -> None:
    app = out / "accounts"
    (app / "migrations").mkdir(parents=True, exist_ok=True)
    (app / "__init__.py").write_text("")
    (app / "migrations" / "__init__.py").write_text("")
    (app / "models.py").write_text(MODELS)
    sys.path.insert(0, str(out))

    from django.conf import settings

    settings.configure(
        SECRET_KEY=secret_key,
        USE_TZ=True,
        INSTALLED_APPS=[
            "django.contrib.contenttypes",
            "django.contrib.auth",
            "rest_framework",
            "rest_framework_simplejwt",
            "rest_framework_simplejwt.token_blacklist",
            "accounts",
        ],
        AUTH_USER_MODEL="accounts.User",
        DATABASES={
            "default": {
                "ENGINE": "django.db.backends.sqlite3",
                "NAME": str(out / "django.sqlite3"),
            }
        },
        PASSWORD_HASHERS=HASHERS,
        DEFAULT_AUTO_FIELD="django.db.models.AutoField",
        SIMPLE_JWT={
            "ACCESS_TOKEN_LIFETIME": timedelta(hours=1),
            "REFRESH_TOKEN_LIFETIME": timedelta(days=1),
            "ROTATE_REFRESH_TOKENS": True,
            "BLACKLIST_AFTER_ROTATION": True,
        },
    )
    import django

    django.setup()


def main() -> None:
    if len(sys.argv) != 2:
        sys.exit("usage: make_fixtures.py OUT_DIR")
    out = Path(sys.argv[1]).resolve()
    out.mkdir(parents=True, exist_ok=True)
    secret_key = secrets.token_urlsafe(50)
    configure(out, secret_key)

    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import PBKDF2PasswordHasher, make_password
    from django.core.management import call_command
    from rest_framework_simplejwt.tokens import RefreshToken

    devnull = open(os.devnull, "w")
    call_command("makemigrations", "accounts", verbosity=0, stdout=devnull)
    call_command("migrate", verbosity=0, stdout=devnull)

    User = get_user_model()
    users = []

    def add(email, password, hasher, **fields):
        user = User.objects.create_user(email, None, **fields)
        if password is None:
            user.set_unusable_password()
        elif hasher == "pbkdf2_sha256_weak":
            # Django's own hasher, with the iteration count of an old Django
            # release: below authd's default floor.
            user.password = PBKDF2PasswordHasher().encode(
                password, PBKDF2PasswordHasher().salt(), iterations=20_000
            )
        else:
            user.password = make_password(password, hasher=hasher)
        user.save()
        users.append(
            {
                "id": user.pk,
                "email": user.email,
                "password": password,
                "hasher": hasher,
                "is_active": user.is_active,
                "full_name": user.full_name,
                "encoded": user.password,
            }
        )
        return user

    pbkdf2 = add("pbkdf2@example.com", "Django pbkdf2 sha256 pw", "pbkdf2_sha256",
                 full_name="Ada Lovelace")
    add("pbkdf2-sha1@example.com", "Django pbkdf2 sha1 pw", "pbkdf2_sha1",
        full_name="Grace Hopper", is_staff=True)
    argon2 = add("argon2@example.com", "Django argon2 pw \u00e9\u00e8", "argon2",
                 full_name="Edsger Dijkstra")
    add("bcrypt-sha256@example.com", "Django bcrypt sha256 pw", "bcrypt_sha256",
        is_staff=True, is_superuser=True)
    add("bcrypt@example.com", "Django bcrypt pw", "bcrypt")
    add("weak@example.com", "Django weak pbkdf2 pw", "pbkdf2_sha256_weak")
    add("unusable@example.com", None, "unusable", full_name="No Password")
    add("disabled@example.com", "Django disabled pw", "pbkdf2_sha256", is_active=False)

    # A live pair, a second refresh of the same user that was blacklisted
    # (logout), and a token of another user rotated by Django (blacklisted
    # after rotation) whose successor is live.
    live = RefreshToken.for_user(pbkdf2)
    logged_out = RefreshToken.for_user(pbkdf2)
    logged_out.blacklist()
    rotated = RefreshToken.for_user(argon2)
    rotated.blacklist()

    call_command(
        "dumpdata",
        "accounts.user",
        "token_blacklist",
        indent=2,
        output=str(out / "dumpdata.json"),
        verbosity=0,
    )
    manifest = {
        "secret_key": secret_key,
        "users": users,
        "tokens": {
            "user_email": pbkdf2.email,
            "user_id": pbkdf2.pk,
            "refresh": str(live),
            "access": str(live.access_token),
            "blacklisted_refresh": str(logged_out),
            "blacklisted_access": str(logged_out.access_token),
            "other_blacklisted_refresh": str(rotated),
        },
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2))


if __name__ == "__main__":
    main()
