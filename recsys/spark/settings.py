"""Where the Spark cluster is, and the few session settings that matter.

``master`` is a Spark master URL (``local[2]``, ``local[*]``, ``spark://host:7077``, ``yarn``,
``k8s://https://host:6443``) or a Spark Connect address (``sc://host:15002``). Defaults come
from the environment so the CLI, the dashboard and the tests agree:

============================  ==========================================  ===============
variable                      meaning                                     default
============================  ==========================================  ===============
``RECSYS_SPARK_MASTER``       master URL or ``sc://`` address             ``local[*]``
``RECSYS_SPARK_PARTITIONS``   ``spark.sql.shuffle.partitions``            4 local, else Spark's
``RECSYS_SPARK_ALS_BLOCKS``   ALS ``numUserBlocks`` = ``numItemBlocks``   2 local, else 10
``RECSYS_SPARK_DRIVER_MEMORY``  ``spark.driver.memory`` (local: the JVM)  Spark's (1g)
============================  ==========================================  ===============
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, replace

ENGINES = ("local", "spark")
DEFAULT_MASTER = "local[*]"
_MASTER_RE = re.compile(r"local(\[(\*|\d+)(,\d+)?\])?|spark://\S+|yarn|k8s://\S+|sc://\S+")


def check_engine(value: object) -> str:
    """``value`` as an engine name, or ValueError naming the choices."""
    engine = str(value).strip().lower() if value is not None else ""
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {value!r}; choose one of {', '.join(ENGINES)}")
    return engine


@dataclass(frozen=True)
class SparkSettings:
    """How to reach the cluster and size the jobs.

    Parameters
    ----------
    master : str
        Spark master URL, or ``sc://host:port`` for Spark Connect.
    shuffle_partitions : int, optional
        Partitions after a shuffle; small data wants few (local default 4), a cluster about
        2-3 per executor core.
    als_blocks : int, optional
        ALS user and item blocks; about the number of executor cores (local default 2: more
        blocks only add shuffle on one machine).
    driver_memory : str, optional
        e.g. ``"4g"``; only takes effect when this process starts the driver JVM.
    app_name : str
    conf : dict
        Any other ``spark.*`` settings.
    """

    master: str = DEFAULT_MASTER
    shuffle_partitions: int | None = None
    als_blocks: int | None = None
    driver_memory: str | None = None
    app_name: str = "recsys"
    conf: dict = field(default_factory=dict)

    def __post_init__(self):
        if not _MASTER_RE.fullmatch(self.master.strip()):
            raise ValueError(f"unknown Spark master {self.master!r}; use local[*], local[N], spark://host:port, "
                             "yarn, k8s://... or a Spark Connect address sc://host:port")
        for name in ("shuffle_partitions", "als_blocks"):
            value = getattr(self, name)
            if value is not None and int(value) < 1:
                raise ValueError(f"{name} must be at least 1, got {value}")

    @classmethod
    def from_env(cls, **overrides) -> "SparkSettings":
        """Settings from ``RECSYS_SPARK_*`` variables; keyword arguments that are not None win."""
        env = os.environ
        base = cls(master=env.get("RECSYS_SPARK_MASTER", "").strip() or DEFAULT_MASTER,
                   shuffle_partitions=_int_env("RECSYS_SPARK_PARTITIONS"),
                   als_blocks=_int_env("RECSYS_SPARK_ALS_BLOCKS"),
                   driver_memory=env.get("RECSYS_SPARK_DRIVER_MEMORY") or None)
        return replace(base, **{k: v for k, v in overrides.items() if v is not None})

    @property
    def is_local(self) -> bool:
        return self.master.startswith("local")

    @property
    def is_connect(self) -> bool:
        return self.master.startswith("sc://")

    @property
    def partitions(self) -> int | None:
        return self.shuffle_partitions if self.shuffle_partitions is not None else (4 if self.is_local else None)

    @property
    def blocks(self) -> int:
        return self.als_blocks if self.als_blocks is not None else (2 if self.is_local else 10)

    def describe(self) -> dict:
        """What to record with a dataset or run (a Connect address without its parameters: tokens)."""
        return {"master": self.master.split(";", 1)[0], "shuffle_partitions": self.partitions,
                "als_blocks": self.blocks}


def _int_env(name: str) -> int | None:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return None
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"{name} must be a whole number, got {raw!r}") from None
