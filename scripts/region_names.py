"""Write accounts/region_names.py: the English name of every region phonenumbers supports.

phonenumbers keeps region names in every language in one module that takes ~100 MiB once
imported; each web and worker process would carry it for the phone form's country selector.
The portal needs the English names only, so they are written out once from that module:

    .venv/bin/python scripts/region_names.py

tests/accounts/test_region_names.py fails when a phonenumbers upgrade changes them.
"""

from pathlib import Path

import phonenumbers
from phonenumbers.geodata.locale import LOCALE_DATA

# Regions phonenumbers dials but has no English name for.
UNNAMED_REGIONS = {"AC": "Ascension Island", "TA": "Tristan da Cunha", "XK": "Kosovo"}
TARGET = Path(__file__).resolve().parent.parent / "accounts" / "region_names.py"


def english_name(region: str) -> str:
    names = LOCALE_DATA.get(region, {})
    name = names.get("en", "")
    if name.startswith("*"):  # "*xx": the name is the one of language xx
        name = names.get(name[1:], "")
    return name or UNNAMED_REGIONS.get(region, region)


def names() -> dict[str, str]:
    return {region: english_name(region) for region in sorted(phonenumbers.SUPPORTED_REGIONS)}


def module_text() -> str:
    rows = "".join(f"    {region!r}: {name!r},\n" for region, name in names().items())
    return (
        '"""English names of the regions phonenumbers supports (written by scripts/region_names.py)."""\n\n'
        f"REGION_NAMES = {{\n{rows}}}\n"
    )


if __name__ == "__main__":
    TARGET.write_text(module_text(), encoding="utf-8")
    print(f"Wrote {len(names())} region names to {TARGET}")
