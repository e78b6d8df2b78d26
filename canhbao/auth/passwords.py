"""argon2id password hashes with configured cost, and SHA-256 digests for random secrets."""

from __future__ import annotations

import asyncio
import hashlib
import secrets
from dataclasses import dataclass
from functools import lru_cache

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from canhbao.config import AuthConfig, require_positive
from canhbao.errors import ConfigError


@dataclass(frozen=True)
class Argon2Parameters:
    time_cost: int
    memory_kib: int
    parallelism: int

    @classmethod
    def from_config(cls, config: AuthConfig) -> Argon2Parameters:
        parameters = cls(
            config.argon2_time_cost, config.argon2_memory_kib, config.argon2_parallelism
        )
        require_positive(config, "auth", "argon2_time_cost", "argon2_parallelism", minimum=1)
        if parameters.memory_kib < 8 * parameters.parallelism:
            raise ConfigError(
                "auth.argon2_memory_kib: must be at least 8 times auth.argon2_parallelism"
            )
        return parameters


class Passwords:
    """Hash and verify staff passwords; the work runs in a thread so the event loop keeps going.

    argon2 releases the GIL while it hashes, so a login does not stall webhooks or pushes.
    """

    def __init__(self, parameters: Argon2Parameters) -> None:
        self.parameters = parameters
        self._hasher = _hasher(parameters)

    async def hash(self, password: str) -> str:
        return await asyncio.to_thread(self._hasher.hash, password)

    async def verify(self, password_hash: str, password: str) -> bool:
        return await asyncio.to_thread(self._verify, password_hash, password)

    async def verify_nothing(self, password: str) -> None:
        """Spend the time a real check would: unknown, disabled and locked accounts then take as
        long to refuse as a wrong password, so timing does not tell them apart either."""
        await asyncio.to_thread(self._verify, _decoy_hash(self.parameters), password)

    def needs_rehash(self, password_hash: str) -> bool:
        """Whether the hash was made with other parameters than the configured ones."""
        try:
            return self._hasher.check_needs_rehash(password_hash)
        except InvalidHashError:
            return True

    def _verify(self, password_hash: str, password: str) -> bool:
        try:
            return self._hasher.verify(password_hash, password)
        except VerifyMismatchError:
            return False
        except (VerificationError, InvalidHashError):
            # A corrupt stored hash refuses the login; it must never let one through.
            return False


def _hasher(parameters: Argon2Parameters) -> PasswordHasher:
    return PasswordHasher(
        time_cost=parameters.time_cost,
        memory_cost=parameters.memory_kib,
        parallelism=parameters.parallelism,
        type=Type.ID,
    )


@lru_cache(maxsize=4)
def _decoy_hash(parameters: Argon2Parameters) -> str:
    # Cached per parameter set: made once per process, in a worker thread, never on the loop.
    return _hasher(parameters).hash(secrets.token_urlsafe(16))


def new_secret() -> str:
    """A random secret of 256 bits, URL-safe: session ids, CSRF tokens, machine tokens."""
    return secrets.token_urlsafe(32)


def digest(secret: str) -> str:
    """SHA-256 of a high-entropy secret: enough, since it cannot be guessed, and fast enough to
    look up on every request (a slow hash is for low-entropy passwords)."""
    return hashlib.sha256(secret.encode()).hexdigest()
