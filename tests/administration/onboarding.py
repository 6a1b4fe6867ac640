"""A small organisation's onboarding files, written fresh by each test (the import never saw them before)."""

from __future__ import annotations

from pathlib import Path

FILES = {
    "customers.csv": """code,name,tier,email,phone,language,timezone
ACME,Acme Pumps BV,gold,ops@acme.example,+31 10 123 4567,nl,Europe/Amsterdam
HUA,华东制冷有限公司,key,service@hua.example,+86 21 5555 0000,zh-Hans,Asia/Shanghai
""",
    "sites.csv": """code,customer_code,name,address,lat,lon,access_hours
ACME-RTM,ACME,Rotterdam plant,"Waalhaven 1, Rotterdam",51.89,4.42,Mon-Fri 07:00-19:00
HUA-SH1,HUA,上海一厂,浦东新区,31.22,121.54,24x7
""",
    "assets.csv": """serial,site_code,equipment_type,model,installed_on,device_id
SN-1001,ACME-RTM,pump,KSB Etanorm 50,2021-03-15,{prefix}acme-pump-1
SN-2001,HUA-SH1,chiller,Carrier 30XA,2019-07-01,
""",
    "technicians.csv": """code,name,email,skills,home_lat,home_lon,shift,timezone
T-NL1,Jan de Vries,jan@svc.example,mechanical;electrical,51.92,4.48,Mon-Fri 08:00-17:00,Europe/Amsterdam
T-CN1,王伟,wang@svc.example,refrigeration,31.23,121.47,24x7,Asia/Shanghai
""",
    "contracts.csv": """code,customer_code,tier,coverage,response_min,onsite_min,repair_h,starts_on,ends_on
K-ACME,ACME,gold,Mon-Sat 06:00-22:00,10,90,12,2025-01-01,2027-12-31
K-HUA,HUA,key,24x7,,,,2025-06-01,
""",
}


def write(folder: Path, prefix: str = "", **replace: str) -> Path:
    """The files into ``folder``; ``replace`` overrides a file's whole text (``sites_csv="..."``)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in FILES.items():
        key = name.replace(".", "_")
        body = replace.get(key, text).replace("{prefix}", prefix)
        (folder / name).write_text(body, encoding="utf-8")
    return folder
