#!/usr/bin/env python3
"""Writes a Django-shaped SQLite database with N users, quickly, for timing
`authd import django` (bench/import_django.sh).

Usage: django_users.py PATH [N]   (N defaults to 100000)

The table is what Django's migrations make for a custom email user model
(`accounts_user`), plus SimpleJWT's blacklist tables. Hashes are Django's
format (pbkdf2_sha256 with 1,000,000 iterations, bcrypt_sha256, argon2):
a handful precomputed with hashlib and reused, since the import copies
hashes and never computes one. Needs only the standard library.
"""

import base64
import hashlib
import os
import sqlite3
import sys
from datetime import datetime, timedelta, timezone


def pbkdf2(password: str, salt: str, iterations: int = 1_000_000) -> str:
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt.encode(), iterations)
    return f"pbkdf2_sha256${iterations}${salt}${base64.b64encode(digest).decode()}"


def main() -> None:
    path = sys.argv[1]
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 100_000
    if os.path.exists(path):
        os.remove(path)
    hashes = [pbkdf2(f"password {i}", f"salt{i:018d}") for i in range(4)]
    hashes.append("!" + "x" * 40)
    db = sqlite3.connect(path)
    db.executescript(
        """
        CREATE TABLE accounts_user ("id" integer NOT NULL PRIMARY KEY AUTOINCREMENT,
            "password" varchar(128) NOT NULL, "last_login" datetime NULL,
            "is_superuser" bool NOT NULL, "email" varchar(254) NOT NULL UNIQUE,
            "full_name" varchar(150) NOT NULL, "is_active" bool NOT NULL,
            "is_staff" bool NOT NULL, "date_joined" datetime NOT NULL);
        CREATE TABLE token_blacklist_outstandingtoken ("id" integer NOT NULL PRIMARY KEY AUTOINCREMENT,
            "jti" varchar(255) NOT NULL UNIQUE, "token" text NOT NULL, "created_at" datetime NULL,
            "expires_at" datetime NOT NULL, "user_id" bigint NULL);
        CREATE TABLE token_blacklist_blacklistedtoken ("blacklisted_at" datetime NOT NULL,
            "token_id" bigint NOT NULL UNIQUE, "id" integer NOT NULL PRIMARY KEY AUTOINCREMENT);
        """
    )
    joined = datetime(2020, 1, 1, tzinfo=timezone.utc)
    fmt = "%Y-%m-%d %H:%M:%S.%f"
    db.executemany(
        "INSERT INTO accounts_user VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            (
                i,
                hashes[i % len(hashes)],
                (joined + timedelta(days=400, seconds=i)).strftime(fmt) if i % 3 else None,
                i == 1,
                f"user{i}@example.com",
                f"User Number {i}",
                i % 50 != 0,
                i % 100 == 0,
                (joined + timedelta(seconds=i)).strftime(fmt),
            )
            for i in range(1, count + 1)
        ),
    )
    expires = (datetime.now(timezone.utc) + timedelta(days=1)).strftime("%Y-%m-%d %H:%M:%S")
    tokens = max(1, count // 100)
    db.executemany(
        "INSERT INTO token_blacklist_outstandingtoken VALUES (?, ?, '', NULL, ?, ?)",
        ((i, f"{i:032x}", expires, i) for i in range(1, tokens + 1)),
    )
    db.executemany(
        "INSERT INTO token_blacklist_blacklistedtoken VALUES (?, ?, ?)",
        ((expires, i, i) for i in range(1, tokens + 1)),
    )
    db.commit()
    db.close()


if __name__ == "__main__":
    main()
