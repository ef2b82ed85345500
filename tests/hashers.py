from django.contrib.auth.hashers import Argon2PasswordHasher


class FastArgon2PasswordHasher(Argon2PasswordHasher):
    """Still Argon2 (hashes start with "argon2"), with test-sized cost parameters."""

    time_cost = 1
    memory_cost = 1024
    parallelism = 1
