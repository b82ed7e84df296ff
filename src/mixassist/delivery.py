"""Delivery presets: where the mix goes, as an integrated loudness, a true-peak ceiling and,
where the destination fixes one, a file format.

The values and their sources are tabled in ``docs/delivery.md``; ``tests/test_delivery.py``
checks that table against :data:`DELIVERY_TARGETS`, so the two cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass

from mixassist.errors import InvalidParameterError

__all__ = ["DELIVERY_TARGETS", "DeliveryTarget", "delivery_target"]


@dataclass(frozen=True)
class DeliveryTarget:
    """One destination's delivery settings.

    Attributes
    ----------
    name : str
        The ``--target`` name.
    loudness_lufs : float or None
        Integrated loudness (ITU-R BS.1770); ``None`` where the destination sets none (CD):
        the mix's default then applies (the reference's loudness, else −14 LUFS).
    ceiling_dbtp : float
        True-peak ceiling.
    bit_depth, sample_rate : int or None
        The file format the destination fixes (``None``: keep the session's).
    what : str
        One line: what the numbers are.
    """

    name: str
    loudness_lufs: float | None
    ceiling_dbtp: float
    bit_depth: int | None = None
    sample_rate: int | None = None
    what: str = ""


#: Every preset by name (the table in ``docs/delivery.md``).
DELIVERY_TARGETS: dict[str, DeliveryTarget] = {
    t.name: t
    for t in (
        DeliveryTarget("spotify", -14.0, -1.0, what="Spotify plays at -14 LUFS; keep true peaks under -1 dBTP"),
        DeliveryTarget("apple-music", -16.0, -1.0, what="Apple Music's Sound Check plays near -16 LUFS"),
        DeliveryTarget("youtube", -14.0, -1.0, what="YouTube turns music louder than about -14 LUFS down"),
        DeliveryTarget("tidal", -14.0, -1.0, what="TIDAL normalises to -14 LUFS"),
        DeliveryTarget("amazon", -14.0, -2.0, what="Amazon Music normalises to about -14 LUFS; -2 dBTP ceiling"),
        DeliveryTarget("ebu-r128", -23.0, -1.0, 24, 48000, what="EBU R 128 broadcast: -23 LUFS, -1 dBTP, 48 kHz"),
        DeliveryTarget("podcast", -16.0, -1.0, what="Apple Podcasts: -16 LUFS (stereo) and -1 dBTP"),
        DeliveryTarget(
            "cd", None, -0.3, 16, 44100, what="Red Book CD: 16-bit 44.1 kHz; no loudness standard, -0.3 dBTP"
        ),
    )
}


def delivery_target(name: str) -> DeliveryTarget:
    """The preset called ``name``; raises ``InvalidParameterError`` naming the choices."""
    try:
        return DELIVERY_TARGETS[name]
    except KeyError:
        raise InvalidParameterError(
            f"--target {name!r} is not a delivery preset; choose one of {', '.join(DELIVERY_TARGETS)}"
        ) from None
