"""Find plaintext credentials where a value ends up in an image or a runtime config.

A value is refused when its name says it is a secret (``DB_PASS``, ``stripeApiKey``,
``spring.datasource.password``), when the value has the shape of a known credential (AWS keys,
GitHub, GitLab, Slack, Stripe and npm tokens, JWTs, private keys, ``scheme://user:pass@host``,
``AccountKey=`` ...) or sets a secret-named setting inside it (``--password=...``,
``-Dx.password=...``, ``?token=...``, ``{"password": ...}``), or when the name suggests a
credential (``AUTH``, ``SIGNATURE``, ``SALT`` ...) and the value looks random.

Our own rules rather than detect-secrets' plugins: importing those (they pull in requests)
costs more than the rest of ``release plan``'s start-up, and each value costs several times
more than here. ``tests/unit/test_secret_corpus.py`` holds our recall to theirs.

Reasons name the variable and the rule, never the value: a public run log would show it.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from functools import cache, lru_cache

_EXPLICIT = {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"}

# --- by name ---------------------------------------------------------------------------------

# Words of a name: DB_PASS, db-pass, db.pass, dbPass, DBPass all give DB + PASS.
_WORDS = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")
# A word that names a secret wherever it stands (the reason shows the right-hand side).
_SECRET_WORDS = {
    "PASSWORD": "PASSWORD", "PASSWORDS": "PASSWORD", "PASSWD": "PASSWD", "PWD": "PWD",
    "PASSPHRASE": "PASSPHRASE", "SECRET": "SECRET", "SECRETS": "SECRET",
    "CREDENTIAL": "CREDENTIAL", "CREDENTIALS": "CREDENTIAL", "CREDS": "CREDENTIAL",
    "TOKEN": "TOKEN", "APIKEY": "APIKEY", "PRIVATEKEY": "PRIVATE_KEY",
}
# Run-together words (DBPASSWORD, AUTHTOKEN, CLIENTSECRET); PASSWORDLESS does not end so.
_SECRET_ENDINGS = ("PASSWORD", "PASSWD", "PASSPHRASE", "SECRET", "TOKEN", "APIKEY",
                   "SECRETKEY", "ACCESSKEY", "PRIVATEKEY", "CREDENTIALS")
# A name ending in one of these refers to a secret or describes it; it does not hold it:
# DB_PASSWORD_ARN, SECRET_NAME, OAUTH_TOKEN_URL, PASSWORD_FILE, TOKEN_LIMIT, JWT_SECRET_TTL.
_REFERENCE = frozenset({
    "ARN", "NAME", "ID", "IDS", "FILE", "PATH", "DIR", "URL", "URI", "ENDPOINT", "HOST",
    "PORT", "REGION", "HEADER", "PARAM", "PARAMETER", "FIELD", "TTL", "EXPIRY", "EXPIRES",
    "EXPIRATION", "TIMEOUT", "SECONDS", "MINUTES", "HOURS", "DAYS", "LENGTH", "LEN", "SIZE",
    "LIMIT", "MAX", "MIN", "COUNT", "TYPE", "ENABLED", "DISABLED", "REQUIRED", "POLICY",
    "ROTATION", "PROVIDER", "MODE", "STORE", "VAULT", "LOCATION", "PREFIX", "SUFFIX",
    "FORMAT", "ALGORITHM", "ALG", "KIND", "ISSUER", "AUDIENCE", "SCOPE", "SCOPES",
})
# Words that make TOKEN a quantity (MAX_TOKEN_COUNT, NUM_TOKEN); plural TOKENS never counts.
_QUANTITY = frozenset({"MAX", "MIN", "NUM", "COUNT", "LIMIT", "BUDGET", "TOTAL"})
# *_KEY names that are not secrets: storage keys, lookup keys, public keys.
_PLAIN_KEYS = frozenset({
    "S3", "OBJECT", "CACHE", "PARTITION", "SORT", "HASH", "RANGE", "PRIMARY", "FOREIGN",
    "ROUTING", "IDEMPOTENCY", "LOOKUP", "SHARD", "BUCKET", "PUBLIC", "PUBLISHABLE", "SITE",
    "SEARCH", "MAP", "DEDUP", "DEDUPLICATION", "METRIC", "FEATURE", "CONFIG", "MESSAGE",
    "GROUP", "QUEUE", "STREAM", "TOPIC", "LOCK", "INDEX", "MODEL", "ARTIFACT", "DATA",
    "INPUT", "OUTPUT", "RESULT", "TRANSLATION", "SORTING", "ORDERING", "JOIN", "TABLE",
})
# KEY after one of these names a secret even when more words follow (API_KEY_V2).
_SECRET_KEY_KINDS = frozenset({"API", "PRIVATE", "SECRET", "ACCESS", "SIGNING", "ENCRYPTION",
                               "MASTER", "ACCOUNT", "SHARED", "LICENSE", "SSH", "GPG"})
# Words that suggest a credential without naming one: flagged when the value looks random.
_SUGGESTIVE = frozenset({
    "AUTH", "AUTHN", "AUTHORIZATION", "OAUTH", "BEARER", "SIGNATURE", "SIG", "SALT", "PEPPER",
    "HMAC", "SESSION", "COOKIE", "ACCESS", "SEED", "CIPHER", "ENCRYPTION", "SIGNING",
    "PRIVATE", "WEBHOOK", "DSN", "CONN", "CONNECTION", "PASSCODE", "PIN", "OTP", "TOTP",
    "JWT", "JWK", "SAS", "SHARED", "MASTER", "LOGIN", "CERT",
})
# Names whose value is, by convention, the path of a file that holds the credential.
_PATH_VALUED = frozenset({"GOOGLE_APPLICATION_CREDENTIALS"})
# The shell's working directories, not passwords.
_NOT_SECRETS = frozenset({"PWD", "OLDPWD"})


@lru_cache(maxsize=8192)
def words_of(name: str) -> tuple[str, ...]:
    """The upper-cased words of ``name``, split at ``_ - .``, spaces and camelCase."""
    return tuple(word.upper() for word in _WORDS.findall(name))


@lru_cache(maxsize=8192)
def _name_kind(name: str) -> tuple[str, str] | None:
    """("secret", WORD) when the name says secret, ("suggests", WORD) when it only hints."""
    words = words_of(name)
    if not words or words[-1] in _REFERENCE or "_".join(words) in _NOT_SECRETS:
        return None
    last = len(words) - 1
    quantity = any(word in _QUANTITY for word in words)
    for index, word in enumerate(words):
        found = _SECRET_WORDS.get(word)
        if found is None and len(word) > 4:
            found = next((end for end in _SECRET_ENDINGS
                          if word.endswith(end) and len(word) > len(end)), None)
        if found == "PWD" and len(words) == 1:
            found = None
        if found is not None and found.endswith("TOKEN") and quantity:
            found = None
        if found is None and word == "PASS" and index == last:
            found = "PASS"  # DB_PASS; PASS_THROUGH and PASS_RATE are not passwords
        if found is None and word == "KEY" and index > 0 and (
                (index == last and words[index - 1] not in _PLAIN_KEYS)
                or words[index - 1] in _SECRET_KEY_KINDS):
            found = "*_KEY"
        if found is not None:
            return "secret", found
    hint = next((word for word in words if word in _SUGGESTIVE), None)
    return None if hint is None else ("suggests", hint)


def name_reason(name: str) -> str | None:
    """Why ``name`` on its own names a secret, or None."""
    kind = _name_kind(name)
    if kind is None or kind[0] != "secret":
        return None
    if kind[1] == "*_KEY":
        return f"{quoted(name)} is named like a key (*_KEY)"
    return f"{quoted(name)} is named like a secret ({kind[1]})"


# --- by value --------------------------------------------------------------------------------

# Tokens known by how they start: (what it looks like, its prefixes, pattern from there).
# A value is cut into pieces of token characters once; a pattern runs only on a piece that
# starts with one of its prefixes. The label is all a reason shows.
_TOKENS: tuple[tuple[str, tuple[str, ...], str], ...] = (
    ("an AWS access key id", ("AKIA", "ASIA", "ABIA", "ACCA", "A3T"),
     r"(?:A3T[A-Z0-9]|AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}\b"),
    ("a GitHub token", ("ghp_", "gho_", "ghu_", "ghs_", "ghr_"), r"gh[pousr]_[A-Za-z0-9]{30,}"),
    ("a GitHub token", ("github_pat_",), r"github_pat_[A-Za-z0-9_]{30,}"),
    ("a GitLab token", ("glpat-", "glptt-", "gldt-", "glrt-", "glsoat-", "glcbt-", "glimt-",
                        "glft-", "glagent-", "gloas-", "glwt-"), r"gl[a-z]+-[A-Za-z0-9_-]{20,}"),
    ("a Slack token", ("xoxa-", "xoxb-", "xoxp-", "xoxo-", "xoxs-", "xoxr-", "xoxe-"),
     r"xox[abposre]-[A-Za-z0-9-]{10,}"),
    ("a Stripe secret key", ("sk_live_", "rk_live_", "sk_test_", "rk_test_"),
     r"[sr]k_(?:live|test)_[A-Za-z0-9]{16,}"),
    ("a Stripe webhook secret", ("whsec_",), r"whsec_[A-Za-z0-9]{24,}"),
    ("a JSON Web Token", ("eyJ",),
     r"eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}"),
    ("an npm token", ("npm_",), r"npm_[A-Za-z0-9]{36}\b"),
    ("a PyPI token", ("pypi-AgE",), r"pypi-AgE[A-Za-z0-9_-]{50,}"),
    ("a Google API key", ("AIza",), r"AIza[0-9A-Za-z_-]{35}"),
    ("a Google OAuth secret or token", ("GOCSPX-", "ya29."),
     r"GOCSPX-[A-Za-z0-9_-]{20,}|ya29\.[0-9A-Za-z_-]{20,}"),
    ("a SendGrid API key", ("SG.",), r"SG\.[A-Za-z0-9_-]{16,}\.[A-Za-z0-9_-]{16,}"),
    ("a Twilio API key", ("SK",), r"SK[0-9a-fA-F]{32}\b"),
    ("an OpenAI or Anthropic API key", ("sk-",),
     r"sk-(?:proj-|svcacct-|admin-|ant-[a-z]+[0-9]*-)?[A-Za-z0-9_-]{32,}"),
    ("a Hugging Face token", ("hf_",), r"hf_[A-Za-z0-9]{30,}"),
    # HashiCorp Vault, Docker Hub, Databricks, DigitalOcean, Shopify, Sentry, Grafana, Linear,
    # Postman, New Relic, Atlassian, Doppler, age, Square, Pulumi
    ("a vendor API token",
     ("hvs.", "hvb.", "dckr_pat_", "dapi", "dop_v1_", "doo_v1_", "dor_v1_", "shpat_", "shpca_",
      "shppa_", "shpss_", "sntrys_", "sntryu_", "glsa_", "glc_", "lin_api_", "PMAK-", "NRAK-",
      "ATATT3", "dp.pt.", "dp.st.", "dp.sa.", "dp.ct.", "AGE-SECRET-KEY-1", "sq0atp-",
      "sq0csp-", "pul-"),
     r"(?:hv[sb]\.[A-Za-z0-9_-]{24,}|dckr_pat_[A-Za-z0-9_-]{20,}|dapi[0-9a-f]{32}"
     r"|do[opr]_v1_[0-9a-f]{64}|shp(?:at|ca|pa|ss)_[0-9a-fA-F]{32}|sntry[su]_[A-Za-z0-9_=+/]{30,}"
     r"|gl(?:sa|c)_[A-Za-z0-9_=+/]{30,}|lin_api_[A-Za-z0-9]{30,}|PMAK-[0-9a-f]{24}-[0-9a-f]{34}"
     r"|NRAK-[A-Z0-9]{27}|ATATT3[A-Za-z0-9_=-]{30,}|dp\.(?:pt|st|sa|ct)\.[A-Za-z0-9]{40,}"
     r"|AGE-SECRET-KEY-1[0-9A-Z]{58}|sq0(?:atp|csp)-[0-9A-Za-z_-]{22,}|pul-[0-9a-f]{40})"),
)
# Shapes found anywhere in the value: (what it looks like, a text it must hold, pattern).
_INSIDE: tuple[tuple[str, str, str], ...] = (
    ("a private key", "PRIVATE KEY", r"-----BEGIN[A-Z ]{0,30}PRIVATE KEY(?: BLOCK)?-----"),
    ("a private key", "PuTTY-User-Key-File-", r"PuTTY-User-Key-File-"),
    ("a Slack webhook URL", "hooks.slack.com/",
     r"hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9_/]{20,}"),
    ("a Discord webhook URL", "/api/webhooks/", r"/api/webhooks/[0-9]+/[A-Za-z0-9_-]{20,}"),
    ("a Mailchimp API key", "-us", r"\b[0-9a-f]{32}-us[0-9]{1,2}\b"),
    ("a Telegram bot token", ":AA", r"\b[0-9]{8,10}:AA[A-Za-z0-9_-]{33}\b"),
    ("an Azure AD client secret", "Q~",
     r"(?<![A-Za-z0-9_~.-])[A-Za-z0-9_~.]{3}[0-9]Q~[A-Za-z0-9_~.-]{31,34}"),
    ("an Azure storage account key", "==",
     r"(?<![A-Za-z0-9+/])[A-Za-z0-9+/]{86}==(?![A-Za-z0-9+/=])"),
    ("a signed URL's signature (SAS or pre-signed)", "sig=",
     r"[?&]sig=[A-Za-z0-9%+/=]{30,}"),
    ("a signed URL's signature (SAS or pre-signed)", "X-Amz-Signature=",
     r"X-Amz-Signature=[0-9a-f]{64}"),
    ("an authorization header", "uthorization",
     r"(?i:authorization\s*:\s*(?:basic|bearer|token|digest)\s+)"
     r"(?=[A-Za-z0-9._~+/-]*[0-9])[A-Za-z0-9._~+/-]{12,}"),
)
# Pieces of token characters (not '/', '=', ':' or '@', which end one inside a URL).
_PIECE = re.compile(r"(?<![A-Za-z0-9_.~+-])[A-Za-z0-9_.~+-]{12,}")
_BY_FIRST: dict[str, list[tuple[str, str, str]]] = {}
for _label, _prefixes, _pattern in _TOKENS:
    for _prefix in _prefixes:
        _BY_FIRST.setdefault(_prefix[0], []).append((_prefix, _pattern, _label))


@cache
def _compiled(pattern: str) -> re.Pattern[str]:
    """Patterns are compiled when a value first needs one: most never run in a plan."""
    return re.compile(pattern)


# scheme://user:password@host, the password not a $VARIABLE the shell fills in.
_URL_WITH_LOGIN = r"\b[A-Za-z][A-Za-z0-9+.-]*://[^\s/:@?#]*:([^\s/@?#]+)@[^\s/@]"
# curl's (and others') -u / --user user:password
_USER_FLAG = r"""(?:^|\s)(?:-u|--user)(?:\s+|=)("[^"]*"|'[^']*'|\S+)"""
# 40 base64 characters on their own: the shape of an AWS secret access key.
_FORTY = r"(?<![A-Za-z0-9/+=])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])"
# Settings inside a value: NAME=value (flags, -D properties, connection strings, query
# strings, shell assignments), --flag value, "name": "value", and HTTP headers.
_ASSIGNMENTS = (
    r"""(?:^|[\s;&?,(])(?:-D|--?)?([A-Za-z_][A-Za-z0-9_.-]{0,63})=(?!=)"""
    r"""("[^"]*"|'[^']*'|[^\s;&,'"]+)""",
    r"""(?:^|\s)--?([A-Za-z][A-Za-z0-9_.-]{0,63})\s+("[^"]*"|'[^']*'|[^\s"'-]\S*)""",
    r""""([A-Za-z_][A-Za-z0-9_.-]{0,63})"\s*:\s*"([^"]*)\"""",
    r"""(?i)(?:^|['"\s])(x-[a-z0-9-]*(?:key|token|secret|auth)[a-z0-9-]*|private-token"""
    r"""|api-key)\s*:\s*([^\s'"]+)""",
)
# Values that hold no secret whatever the name: a $VARIABLE, a template, an ARN, a boolean.
_NOT_A_VALUE = re.compile(
    r"""\s*|\$\{?[A-Za-z_][A-Za-z0-9_]*\}?|\{\{.*\}\}|%\([A-Za-z_]+\)s|<[^<>]*>"""
    r"""|arn:aws[a-z-]*:[a-z0-9-]+:.*|(?i:true|false|yes|no|on|off|0|1|none|null)""")
_RUN = re.compile(r"[A-Za-z0-9]{16,}")
_WORDY = re.compile(r"[a-z]{9,}|[A-Z]{9,}")
_HEX = frozenset("0123456789abcdefABCDEF")


def _entropy(text: str) -> float:
    total = len(text)
    return -sum(n / total * math.log2(n / total) for n in Counter(text).values())


def looks_random(value: str) -> bool:
    """True when ``value`` holds a run of 16+ letters and digits as a generator makes them."""
    for run in _RUN.findall(value):
        if run.isdigit() or run.isalpha() or _WORDY.search(run):
            continue
        # Thresholds: about the 1st percentile of random strings of that length and alphabet.
        if set(run) <= _HEX:
            if _entropy(run) >= min(3.3, 2.7 + (len(run) - 16) * 0.04):
                return True
        elif _entropy(run) >= min(4.2, 3.3 + (len(run) - 16) * 0.07):
            return True
    return False


def _aws_secret_key(value: str) -> bool:
    for match in _compiled(_FORTY).finditer(value):
        text = match.group()
        if (any(c.isupper() for c in text) and any(c.islower() for c in text)
                and any(c.isdigit() for c in text) and _entropy(text) >= 4.2):
            return True
    return False


def _holds_value(value: str) -> bool:
    return _NOT_A_VALUE.fullmatch(value) is None


def _shown(name: str) -> str:
    """``name`` for a message: only when it reads as a name, never a random string."""
    return name if len(name) <= 64 and not looks_random(name) else "a setting"


def quoted(name: str) -> str:
    """``'name'`` for a message: control characters escaped (a name in a template is not
    checked by a schema, and a line break could forge a log line), and never a name that
    itself looks like a credential."""
    if len(name) > 100 or looks_random(name) or value_reason(name) is not None:
        return "a name that itself looks like a credential"
    return "'" + (name if name.isprintable() else ascii(name)[1:-1]) + "'"


def value_reason(value: str) -> str | None:
    """What ``value`` looks like when its shape alone gives it away as a credential."""
    if len(value) < 8:
        return None
    for piece in _PIECE.finditer(value):
        for prefix, pattern, label in _BY_FIRST.get(piece.group()[0], ()):
            if piece.group().startswith(prefix) and _compiled(pattern).match(value, piece.start()):
                return label
    for label, needle, pattern in _INSIDE:
        if needle in value and _compiled(pattern).search(value):
            return label
    for found in _compiled(_URL_WITH_LOGIN).finditer(value) if "@" in value else ():
        password = found.group(1)
        if _holds_value(password) and not password.startswith("$") and set(password) != {"*"}:
            return "a URL with a password (scheme://user:password@host)"
    if "-u" in value or "--user" in value:
        for found in _compiled(_USER_FLAG).finditer(value):
            password = found.group(1).strip("\"'").partition(":")[2]
            if password and _holds_value(password) and not password.startswith("$"):
                return "a user:password on a command line (-u/--user)"
    if len(value) >= 40 and _aws_secret_key(value):
        return "an AWS secret access key (40 random base64 characters)"
    return None


def _gate_words() -> tuple[str, ...]:
    """Lower-case texts one of which any name ``_name_kind`` flags contains."""
    words = {w.lower() for w in (*_SECRET_WORDS, *_SECRET_ENDINGS, *_SUGGESTIVE, "PASS", "KEY")}
    return tuple(sorted(w for w in words if not any(o != w and o in w for o in words)))


_GATE = _gate_words()


def _verb(looks: str) -> str:
    return "is" if looks == "a private key" else "looks like"


def _setting_reason(value: str) -> str | None:
    """A secret-named setting written inside ``value`` (``--password=...``)."""
    if not ("=" in value or ":" in value or value.startswith("-") or " -" in value):
        return None
    lower = value.lower()
    if not any(word in lower for word in _GATE):
        return None
    for pattern in _ASSIGNMENTS:
        for match in _compiled(pattern).finditer(value):
            name, inner = match.group(1), match.group(2).strip("\"'")
            if not _holds_value(inner) or inner.startswith(("$", "=")) or looks_random(name):
                continue
            kind = _name_kind(name)
            if kind is None or (kind[0] == "suggests" and not looks_random(inner)):
                continue
            if name.upper() in _PATH_VALUED and inner.startswith(("/", "./")):
                continue
            return f"sets {_shown(name)}, named like a secret ({kind[1]})"
    return None


@lru_cache(maxsize=16384)
def find_secret(name: str, value: str) -> str | None:
    """Why ``name=value`` looks like a plaintext credential, or None when it does not."""
    if name.upper() in _EXPLICIT:
        return f"{quoted(name)} is an AWS credential"
    looks = value_reason(value)
    if looks is not None:
        return f"the value of {quoted(name)} {_verb(looks)} {looks}"
    kind = _name_kind(name)
    if kind is not None and _holds_value(value) and not (
            name.upper() in _PATH_VALUED and value.startswith(("/", "./"))):
        if kind[0] == "secret":
            return name_reason(name)
        if looks_random(value):
            return f"{quoted(name)} suggests a credential ({kind[1]}) and its value looks random"
    setting = _setting_reason(value) if len(value) >= 8 else None
    if setting is not None:
        return f"the value of {quoted(name)} {setting}"
    return None


looks_secret = find_secret  # the name callers used first


_FLAG = re.compile(r"--?([A-Za-z][A-Za-z0-9_.-]{0,63})")


def find_in_args(args: Sequence[object]) -> list[tuple[int, str]]:
    """(index, reason) for each argument of a command line that holds a credential:
    a token's shape, a ``--password=...`` inside it, or the value after ``--password``."""
    found: list[tuple[int, str]] = []
    items = [arg if isinstance(arg, str) else "" for arg in args]
    for index, item in enumerate(items):
        looks = value_reason(item)
        if looks is not None:
            found.append((index, f"argument {index} {_verb(looks)} {looks}"))
            continue
        setting = _setting_reason(item) if len(item) >= 8 else None
        if setting is not None:
            found.append((index, f"argument {index} {setting}"))
            continue
        flag = _FLAG.fullmatch(items[index - 1]) if index else None
        if flag is None or item.startswith("-") or not _holds_value(item):
            continue
        kind = _name_kind(flag.group(1))
        if kind is not None and (kind[0] == "secret" or looks_random(item)):
            found.append((index, f"argument {index} follows {_shown(items[index - 1])}, "
                                 f"named like a secret ({kind[1]})"))
    return found


# --- hints -----------------------------------------------------------------------------------

def secrets_hint(service: str, name: str, region: str, account_id: str, env: str) -> str:
    """The YAML to write instead of a plaintext credential."""
    param = name.lower().replace("_", "-")
    return (
        "store the value in SSM Parameter Store (or Secrets Manager) and reference it by ARN:\n"
        f"  services:\n    {service}:\n      ecs:\n        secrets:\n"
        f"          {name}: arn:aws:ssm:{region}:{account_id}:parameter/{env}/{service}/{param}"
    )


def variable_for(name: str) -> str:
    """An environment variable name for a secret found under ``name`` (or in an argument)."""
    words = [w for w in words_of(name) if not w.isdigit()] or ["SECRET"]
    return "_".join(words)[:64]
