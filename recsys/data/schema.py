"""The data contract: the three canonical tables and the roles their columns play.

Every later module relies on these canonical names and types; the analyst's own
column names are mapped onto them by :mod:`recsys.data.mapping`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

TABLES: tuple[str, ...] = ("interactions", "items", "users")

# Conversion kinds a role can have (see recsys.data.validation for what each does).
KINDS = ("id", "datetime", "float", "event", "category", "text", "tags", "str")


@dataclass(frozen=True)
class Role:
    """One canonical column.

    Attributes
    ----------
    name : str
        Canonical column name, e.g. ``"user_id"``.
    required : bool
        Whether the table is unusable without it.
    kind : str
        How values are converted, one of :data:`KINDS`.
    description : str
        Plain-words meaning, shown in the mapping step.
    aliases : tuple of str
        Source headers recognised automatically, in priority order, as
        :func:`header_key` spells them (lower case, letters and digits only).
    """

    name: str
    required: bool
    kind: str
    description: str
    aliases: tuple[str, ...] = ()


_USER_ALIASES = (
    "userid", "user", "customerid", "customer", "visitorid", "visitor", "clientid",
    "client", "memberid", "member", "accountid", "uid", "shopperid", "buyerid",
    "personid", "viewerid", "readerid", "userkey", "customerkey", "customerno",
)
_ITEM_ALIASES = (
    "itemid", "item", "movieid", "movie", "productid", "product", "stockcode", "sku",
    "skuid", "articleid", "article", "contentid", "asin", "isbn", "bookid", "trackid",
    "songid", "videoid", "offerid", "productcode", "itemcode", "iid", "itemkey",
)

TABLE_ROLES: dict[str, tuple[Role, ...]] = {
    "interactions": (
        Role("user_id", True, "id", "who acted (customer, visitor, member)", _USER_ALIASES),
        Role("item_id", True, "id", "what they acted on (product, movie, article)", _ITEM_ALIASES),
        Role(
            "timestamp", False, "datetime",
            "when (ISO 8601 or Unix seconds/milliseconds); needed for time splits, "
            "sequences, decay and replay",
            ("timestamp", "time", "eventtime", "datetime", "date", "invoicedate", "createdat",
             "ts", "eventtimestamp", "eventdate", "orderdate", "purchasedate", "occurredat",
             "unixtime", "epoch", "timestamputc", "datetimeutc", "when"),
        ),
        Role(
            "event_type", False, "event", "kind of event (view, click, add_to_cart, purchase...)",
            ("eventtype", "event", "action", "interactiontype", "type", "eventname", "behavior",
             "behaviour", "actiontype", "interaction"),
        ),
        Role(
            "value", False, "float", "strength of the event (rating, quantity, revenue)",
            ("rating", "value", "quantity", "qty", "amount", "revenue", "score", "count",
             "playcount", "plays", "weight", "stars"),
        ),
        Role(
            "session_id", False, "id", "session, order or basket the event belongs to",
            ("sessionid", "session", "invoiceno", "invoice", "invoicenumber", "orderid", "order",
             "orderno", "basketid", "basket", "cartid", "visitid"),
        ),
    ),
    "items": (
        Role("item_id", True, "id", "item identifier, as in the interactions", _ITEM_ALIASES),
        Role(
            "title", False, "text", "short name shown to people",
            # A lone 'Description' (Online Retail) is really a product name.
            ("title", "name", "productname", "itemname", "producttitle", "movietitle",
             "itemtitle", "headline", "description"),
        ),
        Role(
            "description", False, "text", "longer free text used by content models",
            ("description", "text", "summary", "overview", "plot", "body", "synopsis",
             "longdescription", "details"),
        ),
        Role(
            "category", False, "category", "main category or genre",
            ("category", "categories", "genre", "genres", "categoryname", "department",
             "section", "producttype", "productcategory", "categoryid"),
        ),
        Role(
            "tags", False, "tags", "multi-valued labels separated by '|'",
            ("tags", "tag", "keywords", "keyword", "labels", "hashtags"),
        ),
        Role(
            "image_path", False, "str", "path or URL of a picture",
            ("imagepath", "image", "imageurl", "img", "thumbnail", "picture", "imagelink",
             "poster", "posterpath"),
        ),
    ),
    "users": (
        Role("user_id", True, "id", "customer identifier, as in the interactions", _USER_ALIASES),
        Role(
            "age_group", False, "category", "age band",
            ("agegroup", "ageband", "agebucket", "agerange", "agecategory"),
        ),
        Role("gender", False, "category", "gender", ("gender", "sex")),
        Role("country", False, "category", "country", ("country", "countrycode", "nation")),
        Role(
            "loyalty_tier", False, "category", "loyalty or membership tier",
            ("loyaltytier", "tier", "loyalty", "loyaltylevel", "membershiptier",
             "membershiplevel", "membership"),
        ),
        Role(
            "signup_date", False, "datetime", "when the customer signed up",
            ("signupdate", "signup", "signedup", "registrationdate", "registered", "joindate",
             "joined", "createdat", "membersince", "accountcreated", "firstseen"),
        ),
        Role(
            "email", False, "str", "e-mail address, for ad-platform exports only",
            ("email", "emailaddress", "mail", "emailid"),
        ),
        Role(
            "phone", False, "str", "phone number, for ad-platform exports only",
            ("phone", "phonenumber", "mobile", "telephone", "tel", "cellphone", "mobilephone"),
        ),
    ),
}


def roles_for(table: str) -> tuple[Role, ...]:
    """The roles of ``table``; raises ``KeyError`` naming the known tables."""
    try:
        return TABLE_ROLES[table]
    except KeyError:
        raise KeyError(f"unknown table {table!r}; expected one of {', '.join(TABLES)}") from None


def role_names(table: str) -> tuple[str, ...]:
    """Canonical column names of ``table``'s roles, in schema order."""
    return tuple(r.name for r in roles_for(table))


def get_role(table: str, name: str) -> Role:
    """The role called ``name`` in ``table``."""
    for role in roles_for(table):
        if role.name == name:
            return role
    raise KeyError(f"table {table!r} has no role {name!r}; roles: {', '.join(role_names(table))}")


def required_roles(table: str) -> tuple[Role, ...]:
    """Roles without which ``table`` cannot be used."""
    return tuple(r for r in roles_for(table) if r.required)


def id_column(table: str) -> str:
    """The column that identifies a row's entity: ``user_id`` for users, else ``item_id``."""
    return "user_id" if table == "users" else "item_id"


def header_key(column: str) -> str:
    """Header spelling used to match aliases: lower case, letters and digits only."""
    return re.sub(r"[^0-9a-z]", "", str(column).lower())


_CAMEL_1 = re.compile(r"([A-Z]+)([A-Z][a-z])")
_CAMEL_2 = re.compile(r"([a-z0-9])([A-Z])")


def snake_case(column: str) -> str:
    """Normalised snake_case name for a kept column: ``'UnitPrice'`` -> ``'unit_price'``."""
    name = _CAMEL_2.sub(r"\1_\2", _CAMEL_1.sub(r"\1_\2", str(column).strip()))
    name = re.sub(r"[^0-9A-Za-z]+", "_", name).strip("_").lower()
    return name or "column"
