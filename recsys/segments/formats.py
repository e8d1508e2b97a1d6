"""Export files: analyst tables (CSV, Parquet, Excel) and ad-platform audience uploads.

* **Analyst CSV / Excel.** Every text cell (and header) that a spreadsheet could read as a
  formula is neutralised with a leading single quote, per OWASP "CSV Injection"
  (https://owasp.org/www-community/attacks/CSV_Injection): cells beginning with ``=``,
  ``+``, ``-``, ``@``, tab (0x09) or carriage return (0x0D); we also catch line feeds,
  leading spaces before those characters, and their full-width forms. Text fields are
  wrapped in double quotes with embedded quotes doubled, as OWASP also advises.
* **Google Ads Customer Match** (support.google.com/google-ads/answer/7659867, "Formatting
  guidelines for customer data"): header ``Email,Phone,First Name,Last Name,Country,Zip``;
  emails trimmed and lower-cased, phones in E.164 (``+`` and country code), names trimmed and
  lower-cased, each then SHA-256 hex; Country as an ISO 3166-1 alpha-2 code and Zip unhashed.
* **Meta custom audience** (developers.facebook.com/docs/marketing-api/audiences/guides/
  custom-audiences, "Hashing and normalization"): keys ``EMAIL, PHONE, FN, LN, ZIP, CT, ST,
  COUNTRY, EXTERN_ID``; values trimmed and lower-cased; phone digits only with the country
  code and no leading zeros; names, city and state letters only; US zips their first five
  digits; country lower-case ISO-2; everything SHA-256 hex except ``EXTERN_ID``.

Upload files are UTF-8 without BOM, comma-separated, ``\\n`` line ends. Empty values stay
empty (the hash of an empty string would match nobody and leak nothing useful). Rows without
any usable identifier are dropped and counted.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Iterable

import numpy as np
import pandas as pd

from recsys.data.dataset import Dataset

FORMATS = {
    "csv": (".csv", "text/csv", "Analyst CSV (safe to open in Excel)"),
    "parquet": (".parquet", "application/vnd.apache.parquet", "Parquet"),
    "xlsx": (".xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "Excel workbook"),
    "customer-match": (".csv", "text/csv", "Google Ads Customer Match upload (hashed)"),
    "meta": (".csv", "text/csv", "Meta custom audience file (hashed)"),
}
TABLE_FORMATS = ("csv", "parquet", "xlsx")
UPLOAD_FORMATS = ("customer-match", "meta")
GOOGLE_HEADER = ("Email", "Phone", "First Name", "Last Name", "Country", "Zip")
META_HEADER = ("EMAIL", "PHONE", "FN", "LN", "ZIP", "CT", "ST", "COUNTRY", "EXTERN_ID")
_FORMULA_START = frozenset("=+-@\t\r\n\uff1d\uff0b\uff0d\uff20")
_FORMULA_AFTER_SPACE = frozenset("=+-@\uff1d\uff0b\uff0d\uff20")
# Contact roles and the customer-table columns that can hold them.
CONTACT_COLUMNS = {
    "email": ("email", "e_mail", "email_address"),
    "phone": ("phone", "phone_number", "mobile", "telephone"),
    "first_name": ("first_name", "firstname", "given_name"),
    "last_name": ("last_name", "lastname", "surname", "family_name"),
    "country": ("country", "country_code"),
    "zip": ("zip", "zip_code", "postal_code", "postcode"),
    "city": ("city", "town"),
    "state": ("state", "province", "region"),
}


@dataclass(frozen=True)
class ExportFile:
    """File bytes plus what the writer counted (rows, dropped rows, unknown countries...)."""

    data: bytes
    format: str
    row_count: int
    stats: dict = field(default_factory=dict)

    @property
    def extension(self) -> str:
        return FORMATS[self.format][0]

    @property
    def mime(self) -> str:
        return FORMATS[self.format][1]

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


# ----- analyst tables ----------------------------------------------------------------------------

def neutralise(value: str) -> str:
    """Prefix a single quote when a spreadsheet would read ``value`` as a formula (OWASP)."""
    if not value:
        return value
    if value[0] in _FORMULA_START or value.lstrip(" ")[:1] in _FORMULA_AFTER_SPACE:
        return "'" + value
    return value


def safe_table(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy with every text column and every header neutralised (numbers and dates untouched)."""
    out = frame.copy()
    for column in out.columns:
        values = out[column]
        if _is_text(values):
            out[column] = values.astype("object").map(lambda v: neutralise(str(v)) if _present(v) else v)
    out.columns = [neutralise(str(c)) for c in out.columns]
    return out


def _is_text(values: pd.Series) -> bool:
    return not (pd.api.types.is_numeric_dtype(values) or pd.api.types.is_datetime64_any_dtype(values)
                or pd.api.types.is_bool_dtype(values))


def _present(value: object) -> bool:
    return value is not None and not (isinstance(value, float) and np.isnan(value)) and value is not pd.NA


def table_file(frame: pd.DataFrame, fmt: str, *, sheet_name: str = "segment") -> ExportFile:
    """``frame`` as an analyst CSV (neutralised, text quoted), Parquet or Excel (neutralised) file."""
    if fmt == "csv":
        text = safe_table(frame).to_csv(index=False, quoting=csv.QUOTE_NONNUMERIC, lineterminator="\n")
        data = text.encode("utf-8")
    elif fmt == "parquet":
        buffer = io.BytesIO()
        frame.to_parquet(buffer, index=False)
        data = buffer.getvalue()
    elif fmt == "xlsx":
        # openpyxl stores a string starting with "=" as a formula, so Excel needs the same guard.
        buffer = io.BytesIO()
        excel = safe_table(frame)
        for column in excel.columns:
            if isinstance(excel[column].dtype, pd.DatetimeTZDtype):
                excel[column] = excel[column].dt.tz_localize(None)
        with pd.ExcelWriter(buffer, engine="openpyxl") as writer:
            excel.to_excel(writer, index=False, sheet_name=sheet_name[:31] or "segment")
        data = buffer.getvalue()
    else:
        raise ValueError(f"unknown table format {fmt!r}; choose one of {', '.join(TABLE_FORMATS)}")
    return ExportFile(data, fmt, len(frame))


def segment_table(members: pd.DataFrame, data: Dataset, *, ids: np.ndarray | None = None,
                  attributes: Iterable[str] | None = None) -> pd.DataFrame:
    """The analyst view of a segment: id, rank, affinity and non-personal customer attributes.

    ``ids`` replaces the customer id (e.g. pseudonymous ids, then the column is ``pseudo_id``).
    Contact details are never included.
    """
    from recsys.segments.privacy import is_personal

    users = members["user_idx"].to_numpy(np.int64)
    out = pd.DataFrame({"pseudo_id" if ids is not None else "user_id":
                        np.asarray(ids, dtype=object) if ids is not None else members["user_id"].to_numpy(),
                        "rank": members["rank"].to_numpy(np.int64),
                        "affinity": members["affinity"].to_numpy(np.float64)})
    features = data.user_features
    if features is not None:
        wanted = list(attributes) if attributes is not None else [c for c in features.columns if c != "user_id"]
        for column in wanted:
            if column in features and not is_personal(column) and column != "user_id":
                out[column] = features[column].iloc[users].to_numpy()
    return out


# ----- contact details ---------------------------------------------------------------------------

def contact_table(data: Dataset, user_idx: np.ndarray) -> pd.DataFrame:
    """Contact columns (email, phone, names, country, zip, city, state) of ``user_idx``, raw.

    Roles missing from the customer table are empty columns. Never display this table.
    """
    users = np.asarray(user_idx, dtype=np.int64)
    features = data.user_features
    out = pd.DataFrame({"customer_id": data.users.to_raw(users).astype(str)})
    for role, aliases in CONTACT_COLUMNS.items():
        column = _find(features, aliases)
        if column is None:
            out[role] = pd.Series([None] * len(users), dtype=object)
        else:
            values = features[column].iloc[users]
            out[role] = pd.Series([v if ok else None for v, ok in zip(values.to_numpy(dtype=object), values.notna())],
                                  dtype=object)
    return out


def _find(features: pd.DataFrame | None, aliases: Iterable[str]) -> str | None:
    if features is None:
        return None
    lower = {str(c).lower(): c for c in features.columns}
    return next((lower[a] for a in aliases if a in lower), None)


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _clean(value: object) -> str:
    return unicodedata.normalize("NFC", str(value)).strip() if _present(value) else ""


def normalise_email(value: object) -> str:
    """Trimmed, lower-cased; empty when it is not an address."""
    text = _clean(value).lower()
    return text if re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", text) else ""


def normalise_name(value: object) -> str:
    """Google: trimmed and lower-cased."""
    return _clean(value).lower()


def letters_only(value: object) -> str:
    """Meta names, city and state: lower-case letters only (no spaces, digits or punctuation)."""
    return "".join(ch for ch in _clean(value).lower() if ch.isalpha())


def e164(value: object, country: str | None) -> str:
    """A phone number in E.164 (``+`` country code and number), or empty when it cannot be.

    Numbers written with ``+`` or ``00`` carry their country code; local numbers take the
    customer's country's calling code and lose the national trunk ``0`` (NANP: ``1``).
    """
    text = _clean(value)
    if not text:
        return ""
    text = re.split(r"(?i)\s*(?:ext\.?|extension|x|#)\s*\d+\s*$", text)[0]
    digits = re.sub(r"\D", "", text)
    if text.startswith("+"):
        full = digits
    elif digits.startswith("00"):
        full = digits[2:]
    else:
        code = calling_code(country)
        if code is None:
            return ""
        national = digits
        if code == "1" and len(digits) == 11 and digits.startswith("1"):
            national = digits[1:]
        elif country not in KEEP_LEADING_ZERO and digits.startswith("0"):
            national = digits[1:]
        if code == "1" and len(national) != 10:
            return ""
        full = code + national
    if not 7 <= len(full) <= 15 or full.startswith("0"):
        return ""
    return "+" + full


def normalise_zip(value: object) -> str:
    """Letters, digits, spaces and dashes only, trimmed (no formula characters can lead)."""
    return re.sub(r"[^0-9A-Za-z -]", "", _clean(value)).strip(" -")


# ----- Google Ads Customer Match -----------------------------------------------------------------

def customer_match_file(contacts: pd.DataFrame) -> ExportFile:
    """The Customer Match upload CSV (hashed identifiers) of ``contact_table`` rows."""
    rows, stats = [], _upload_stats()
    for c in contacts.itertuples(index=False):
        code = _country(c.country, stats)
        email = normalise_email(c.email)
        phone = e164(c.phone, code)
        first, last, zip_code = normalise_name(c.first_name), normalise_name(c.last_name), normalise_zip(c.zip)
        _count_invalid(stats, c, email, phone)
        # Google matches an address only with first name, last name, country and zip together.
        if not (email or phone or (first and last and code and zip_code)):
            stats["n_dropped_no_identifier"] += 1
            continue
        rows.append([_hash(email), _hash(phone), _hash(first), _hash(last), code or "", zip_code])
    stats.update(_coverage(rows, (0, 1)))
    return ExportFile(_csv_bytes(GOOGLE_HEADER, rows), "customer-match", len(rows), stats)


# ----- Meta custom audiences ---------------------------------------------------------------------

def meta_file(contacts: pd.DataFrame, extern_ids: Iterable[str] | None = None) -> ExportFile:
    """The Meta custom audience CSV of ``contact_table`` rows; ``EXTERN_ID`` defaults to the customer id."""
    ids = list(contacts["customer_id"] if extern_ids is None else extern_ids)
    rows, stats = [], _upload_stats()
    for c, extern in zip(contacts.itertuples(index=False), ids):
        code = _country(c.country, stats)
        email = normalise_email(c.email)
        phone = e164(c.phone, code).lstrip("+")
        first, last = letters_only(c.first_name), letters_only(c.last_name)
        zip_code = normalise_zip(c.zip).lower().replace(" ", "")
        if code == "US":
            zip_code = zip_code.split("-")[0][:5]
        _count_invalid(stats, c, email, phone)
        if not (email or phone or (first and last)):
            stats["n_dropped_no_identifier"] += 1
            continue
        rows.append([_hash(email), _hash(phone), _hash(first), _hash(last), _hash(zip_code),
                     _hash(letters_only(c.city)), _hash(letters_only(c.state)), _hash((code or "").lower()),
                     str(extern)])
    stats.update(_coverage(rows, (0, 1)))
    return ExportFile(_csv_bytes(META_HEADER, rows), "meta", len(rows), stats)


def _hash(text: str) -> str:
    return sha256_hex(text) if text else ""


def _upload_stats() -> dict:
    return {"n_dropped_no_identifier": 0, "n_unknown_country": 0, "unknown_countries": [],
            "n_invalid_email": 0, "n_invalid_phone": 0}


def _country(value: object, stats: dict) -> str | None:
    if not _present(value) or not str(value).strip():
        return None
    code = iso2(str(value))
    if code is None:
        stats["n_unknown_country"] += 1
        label = str(value).strip()[:40]
        if label not in stats["unknown_countries"] and len(stats["unknown_countries"]) < 20:
            stats["unknown_countries"].append(label)
    return code


def _count_invalid(stats: dict, contact, email: str, phone: str) -> None:
    stats["n_invalid_email"] += int(bool(_clean(contact.email)) and not email)
    stats["n_invalid_phone"] += int(bool(_clean(contact.phone)) and not phone)


def _coverage(rows: list[list[str]], columns: tuple[int, int]) -> dict:
    return {"n_rows": len(rows), "n_with_email": sum(bool(r[columns[0]]) for r in rows),
            "n_with_phone": sum(bool(r[columns[1]]) for r in rows)}


def _csv_bytes(header: tuple[str, ...], rows: list[list[str]]) -> bytes:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8")


# ----- countries ---------------------------------------------------------------------------------

# ISO 3166-1 alpha-2 -> (English short name, ITU-T E.164 calling code).
COUNTRIES: dict[str, tuple[str, str]] = {
    "AE": ("United Arab Emirates", "971"), "AR": ("Argentina", "54"), "AT": ("Austria", "43"),
    "AU": ("Australia", "61"), "BE": ("Belgium", "32"), "BG": ("Bulgaria", "359"), "BR": ("Brazil", "55"),
    "CA": ("Canada", "1"), "CH": ("Switzerland", "41"), "CL": ("Chile", "56"), "CN": ("China", "86"),
    "CO": ("Colombia", "57"), "CY": ("Cyprus", "357"), "CZ": ("Czechia", "420"), "DE": ("Germany", "49"),
    "DK": ("Denmark", "45"), "EE": ("Estonia", "372"), "EG": ("Egypt", "20"), "ES": ("Spain", "34"),
    "FI": ("Finland", "358"), "FR": ("France", "33"), "GB": ("United Kingdom", "44"), "GR": ("Greece", "30"),
    "HK": ("Hong Kong", "852"), "HR": ("Croatia", "385"), "HU": ("Hungary", "36"), "ID": ("Indonesia", "62"),
    "IE": ("Ireland", "353"), "IL": ("Israel", "972"), "IN": ("India", "91"), "IS": ("Iceland", "354"),
    "IT": ("Italy", "39"), "JP": ("Japan", "81"), "KE": ("Kenya", "254"), "KR": ("South Korea", "82"),
    "LT": ("Lithuania", "370"), "LU": ("Luxembourg", "352"), "LV": ("Latvia", "371"), "MA": ("Morocco", "212"),
    "MT": ("Malta", "356"), "MX": ("Mexico", "52"), "MY": ("Malaysia", "60"), "NG": ("Nigeria", "234"),
    "NL": ("Netherlands", "31"), "NO": ("Norway", "47"), "NZ": ("New Zealand", "64"), "PE": ("Peru", "51"),
    "PH": ("Philippines", "63"), "PK": ("Pakistan", "92"), "PL": ("Poland", "48"), "PT": ("Portugal", "351"),
    "RO": ("Romania", "40"), "RS": ("Serbia", "381"), "SA": ("Saudi Arabia", "966"), "SE": ("Sweden", "46"),
    "SG": ("Singapore", "65"), "SI": ("Slovenia", "386"), "SK": ("Slovakia", "421"), "TH": ("Thailand", "66"),
    "TR": ("Turkey", "90"), "TW": ("Taiwan", "886"), "RU": ("Russia", "7"), "UA": ("Ukraine", "380"), "US": ("United States", "1"),
    "VN": ("Vietnam", "84"), "ZA": ("South Africa", "27"),
}
_ALIASES = {
    "uk": "GB", "great britain": "GB", "britain": "GB", "england": "GB", "scotland": "GB", "wales": "GB",
    "northern ireland": "GB", "united kingdom of great britain and northern ireland": "GB", "gbr": "GB",
    "usa": "US", "u s a": "US", "u s": "US", "united states of america": "US", "america": "US",
    "deutschland": "DE", "deu": "DE", "espana": "ES", "esp": "ES", "fra": "FR", "italia": "IT", "ita": "IT",
    "nederland": "NL", "the netherlands": "NL", "holland": "NL", "nld": "NL", "jpn": "JP", "nippon": "JP",
    "aus": "AU", "can": "CA", "czech republic": "CZ", "korea": "KR", "republic of korea": "KR",
    "turkiye": "TR", "schweiz": "CH", "suisse": "CH", "osterreich": "AT", "brasil": "BR", "mexico": "MX",
    "viet nam": "VN", "uae": "AE", "russia": "RU", "russian federation": "RU",
}
_BY_NAME = {**{name.lower(): code for code, (name, _) in COUNTRIES.items()}, **_ALIASES}
# National trunk prefix "0" is dropped when a local number gets its country code, except where
# the leading 0 belongs to the number (Italy, per ITU-T E.164 national numbering plans).
KEEP_LEADING_ZERO = frozenset({"IT"})


def _key(text: str) -> str:
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z]+", " ", plain.lower()).strip()


def iso2(value: object) -> str | None:
    """ISO 3166-1 alpha-2 code (upper case) of a country name or code, or None when unknown."""
    if value is None or not isinstance(value, str):
        return None
    text = value.strip()
    if len(text) == 2 and text.upper() in COUNTRIES:
        return text.upper()
    key = _key(text)
    if key.upper() in COUNTRIES and len(key) == 2:
        return key.upper()
    return _BY_NAME.get(key) or _BY_NAME.get(key.replace(" ", ""))


def calling_code(code: str | None) -> str | None:
    """The E.164 country calling code of an ISO-2 country code (digits, no '+')."""
    return COUNTRIES.get(code or "", (None, None))[1]
