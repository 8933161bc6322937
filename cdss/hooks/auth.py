"""Who may call: the CDS client's signed JWT (spec §Trusting CDS Clients), checked with PyJWT.

- Header: `alg` one of the asymmetric algorithms below (never `none`, never HMAC: spec §JWT Signing
  Algorithm), `kid` and `typ: JWT` required, `jku` optional and only from the issuer's allowlist.
- Keys: a JWK Set per trusted issuer, given in configuration, read from its `jwks_url`, or from an
  allowlisted `jku`; fetched with requests and cached, re-read once when an unknown `kid` appears.
- Claims: `iss` trusted, `aud` exactly this endpoint's URL, `exp` and `iat` (and `nbf`) with a small
  clock skew, a bounded lifetime, `jti` never seen before (a bounded replay cache), `tenant` allowlisted
  when the issuer lists tenants.
Any failure is a 401 that says nothing more; the reason is logged without the token.
"""
import datetime as dt
import hashlib
import logging
import threading
import time
from collections import OrderedDict

import jwt
import requests
from sqlalchemy import Column, DateTime, MetaData, String, Table, delete, insert
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from cdss.errors import ApiError
from cdss.hooks.errors import HookAuthError

log = logging.getLogger(__name__)

ALGORITHMS = ("ES256", "ES384", "ES512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512")
CURVES = {"ES256": "P-256", "ES384": "P-384", "ES512": "P-521"}
CURVE_NAMES = {"ES256": "secp256r1", "ES384": "secp384r1", "ES512": "secp521r1"}  # cryptography's names
MIN_RSA_BITS = 2048  # NIST SP 800-131A: RSA signatures under 2048 bits are disallowed
REQUIRED_CLAIMS = ["iss", "aud", "exp", "iat", "jti"]


class AuthUnavailableError(ApiError):
    """The shared record of used `jti`s cannot be reached: no call is accepted until it can (fail closed)."""

    status = 503
    code = "authentication_unavailable"
    headers = {"Retry-After": "5"}


class ReplayCache:
    """The `jti`s seen, each kept until its token expires; at most `size` entries (the soonest to expire go first)."""

    def __init__(self, size=10000, clock=time.time):
        self.size = size
        self.clock = clock
        self.seen = OrderedDict()  # (iss, jti) -> exp, in insertion order
        self.lock = threading.Lock()

    def first_use(self, issuer, jti, expires):
        """Record a jti; False when it was already used (a replay)."""
        with self.lock:
            now = self.clock()
            for key in [key for key, exp in self.seen.items() if exp < now]:
                del self.seen[key]
            if (issuer, jti) in self.seen:
                return False
            while len(self.seen) >= self.size:
                soonest = min(self.seen, key=self.seen.get)
                del self.seen[soonest]
                log.warning("jti replay cache full: evicted the entry closest to expiry")
            self.seen[(issuer, jti)] = expires
            return True


REPLAY_TABLE = Table("jwt_replay", MetaData(),  # created by migration 0002
                     Column("token_key", String(64), primary_key=True),
                     Column("expires_at", DateTime(timezone=True), nullable=False))


class DatabaseReplayCache:
    """The `jti`s seen, in the service's database, so every gunicorn worker refuses a replay.

    Rows are deleted once their token has expired. If the database fails, calls are refused (503):
    a per-process memory would let a token replayed to another worker through."""

    def __init__(self, engine, clock=time.time):
        self.engine = engine
        self.clock = clock

    def first_use(self, issuer, jti, expires):
        """Record a jti; False when it was already used (a replay)."""
        key = hashlib.sha256(f"{issuer}\0{jti}".encode()).hexdigest()
        now = dt.datetime.fromtimestamp(self.clock(), dt.timezone.utc)
        try:
            with self.engine.begin() as connection:
                connection.execute(delete(REPLAY_TABLE).where(REPLAY_TABLE.c.expires_at < now))
                connection.execute(insert(REPLAY_TABLE).values(
                    token_key=key, expires_at=dt.datetime.fromtimestamp(expires, dt.timezone.utc)))
        except IntegrityError:
            return False
        except SQLAlchemyError as error:
            log.error("jti replay table unavailable (%s): calls refused until it is back", type(error).__name__)
            raise AuthUnavailableError("authentication cannot be checked right now; retry shortly") from None
        return True


class KeySets:
    """JWK Sets by URL, fetched with requests and cached; a missing kid triggers at most one early re-read."""

    def __init__(self, ttl=300, timeout=(3.05, 5.0), clock=time.time, session=None, min_refresh=30):
        self.ttl, self.timeout, self.clock, self.min_refresh = ttl, timeout, clock, min_refresh
        self.session = session or requests
        self.cache = {}  # url -> (fetched_at, keys)
        self.lock = threading.Lock()

    def key(self, url, kid):
        """The JWK with this kid at this URL, or None."""
        fetched_at, keys = self.cache.get(url, (None, None))
        now = self.clock()
        if keys is None or now - fetched_at > self.ttl or (kid not in keys and now - fetched_at > self.min_refresh):
            keys = self.fetch(url)
        return keys.get(kid)

    def fetch(self, url):
        """Read a JWK Set; a failure leaves the previous copy in place (and is not the caller's key)."""
        try:
            response = self.session.get(url, timeout=self.timeout, headers={"Accept": "application/json"})
            response.raise_for_status()
            document = response.json()
            keys = {item["kid"]: item for item in document["keys"] if isinstance(item, dict) and "kid" in item}
        except (requests.RequestException, ValueError, KeyError, TypeError) as error:
            log.warning("JWK Set could not be read from %s: %s", url, type(error).__name__)
            return self.cache.get(url, (None, {}))[1]
        with self.lock:
            self.cache[url] = (self.clock(), keys)
        return keys


class Verifier:
    """Checks the Authorization header of a CDS Hooks call against the trusted issuers."""

    def __init__(self, issuers, leeway=60, max_lifetime=3600, key_sets=None, replay=None, clock=time.time):
        self.issuers = issuers
        self.leeway = leeway
        self.max_lifetime = max_lifetime
        self.key_sets = key_sets or KeySets(clock=clock)
        self.replay = replay or ReplayCache(clock=clock)
        self.clock = clock

    def verify(self, authorization, audiences):
        """The verified claims of a `Bearer` JWT whose aud is one of `audiences`; else HookAuthError."""
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise HookAuthError("no bearer token")
        token = token.strip()
        try:
            header = jwt.get_unverified_header(token)
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError:
            raise HookAuthError("malformed token") from None
        alg, kid = header.get("alg"), header.get("kid")
        if alg not in ALGORITHMS:
            raise HookAuthError(f"algorithm {alg!r} refused")
        if not isinstance(kid, str) or str(header.get("typ", "")).upper() != "JWT":
            raise HookAuthError("header without kid or typ JWT")
        issuer = unverified.get("iss")
        trusted = self.issuers.get(issuer) if isinstance(issuer, str) else None
        if trusted is None:
            raise HookAuthError("issuer not trusted")
        key = self.signing_key(trusted, header, alg, kid)
        claims = self.decode(token, key, alg, issuer, audiences)
        self.check_claims(claims, trusted, issuer)
        return claims

    def signing_key(self, trusted, header, alg, kid):
        """The issuer's public key for this kid, as a PyJWK bound to the header's algorithm."""
        jku = header.get("jku")
        if jku is not None:
            if jku not in trusted.get("jku_allowlist", []):
                raise HookAuthError("jku not on the issuer's allowlist")
            jwk = self.key_sets.key(jku, kid)
        elif "jwks" in trusted:
            jwk = next((item for item in trusted["jwks"].get("keys", [])
                        if isinstance(item, dict) and item.get("kid") == kid), None)
        elif "jwks_url" in trusted:
            jwk = self.key_sets.key(trusted["jwks_url"], kid)
        else:
            jwk = None
        if jwk is None:
            raise HookAuthError("no key for this kid")
        if jwk.get("use", "sig") != "sig" or jwk.get("alg", alg) != alg or not fits(jwk, alg):
            raise HookAuthError("key does not fit the algorithm")
        try:
            key = jwt.PyJWK(jwk, algorithm=alg)
        except jwt.PyJWTError:
            raise HookAuthError("unusable key") from None
        if not strong_enough(key.key, alg):
            raise HookAuthError("key too weak for the algorithm (RSA under 2048 bits, or an EC key on another curve)")
        return key

    def decode(self, token, key, alg, issuer, audiences):
        """Signature, aud, iss, exp, iat and nbf, with the configured clock skew."""
        try:
            return jwt.decode(token, key=key, algorithms=[alg], audience=list(audiences), issuer=issuer,
                              leeway=self.leeway, options={"require": REQUIRED_CLAIMS, "verify_iat": True})
        except jwt.ExpiredSignatureError:
            raise HookAuthError("token expired") from None
        except jwt.ImmatureSignatureError:
            raise HookAuthError("token not yet valid") from None
        except jwt.InvalidAudienceError:
            raise HookAuthError("wrong audience") from None
        except jwt.PyJWTError as error:
            raise HookAuthError(f"token refused ({type(error).__name__})") from None

    def check_claims(self, claims, trusted, issuer):
        """Lifetime, tenant and replay: what PyJWT does not check."""
        if not isinstance(claims["exp"], (int, float)) or not isinstance(claims["iat"], (int, float)):
            raise HookAuthError("exp and iat must be numbers")
        if claims["exp"] - claims["iat"] > self.max_lifetime:
            raise HookAuthError("token lifetime too long")
        tenants = trusted.get("tenants")
        if tenants is not None and claims.get("tenant") not in tenants:
            raise HookAuthError("tenant not allowed")
        if not isinstance(claims["jti"], str) or not claims["jti"]:
            raise HookAuthError("jti missing")
        if not self.replay.first_use(issuer, claims["jti"], claims["exp"] + self.leeway):
            raise HookAuthError("jti replayed")


def fits(jwk, alg):
    """Whether a JWK's type (and curve) can carry this algorithm."""
    if alg.startswith(("RS", "PS")):
        return jwk.get("kty") == "RSA"
    return jwk.get("kty") == "EC" and jwk.get("crv") == CURVES[alg]


def strong_enough(public_key, alg):
    """Whether the key itself (not just its JWK labels) is fit: RSA of 2048 bits or more, EC on alg's curve."""
    if alg.startswith(("RS", "PS")):
        return getattr(public_key, "key_size", 0) >= MIN_RSA_BITS
    curve = getattr(public_key, "curve", None)
    return curve is not None and curve.name == CURVE_NAMES[alg]
