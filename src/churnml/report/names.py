"""Safe file names for customer pages: a readable slug plus a short hash of the exact id.

Customer ids come from the input data and may hold anything (``../x``, ``<script>``, ``a/b``, ``CON``, spaces,
non-Latin letters). A page name keeps only ASCII letters, digits, ``_`` and ``-`` from the id, so it can never
leave the ``customers/`` folder or need escaping in a URL, and appends the first hex digits of the id's sha256, so
two ids that slug alike (``a/b`` and ``a-b``, ``AB`` and ``ab`` on a case-insensitive disk) never collide and a
reserved device name (``CON``, ``NUL``) never stands alone.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata

SLUG_CHARS = 40
HASH_CHARS = 10
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")


def customer_slug(customer_id: str) -> str:
    """``<slug>-<hash>``: a file stem that is safe on every file system and unique per id."""
    text = unicodedata.normalize("NFKD", str(customer_id)).encode("ascii", "ignore").decode("ascii")
    slug = _UNSAFE.sub("-", text).strip("-_")[:SLUG_CHARS].strip("-_") or "customer"
    digest = hashlib.sha256(str(customer_id).encode("utf-8")).hexdigest()[:HASH_CHARS]
    return f"{slug}-{digest}"


def customer_page_path(customer_id: str) -> str:
    """Relative path of a customer's page inside the report: ``customers/<slug>-<hash>.html``."""
    return f"customers/{customer_slug(customer_id)}.html"


def customer_chart_path(customer_id: str) -> str:
    """Relative path of a customer's waterfall chart: ``assets/waterfall-<slug>-<hash>.png``."""
    return f"assets/waterfall-{customer_slug(customer_id)}.png"
