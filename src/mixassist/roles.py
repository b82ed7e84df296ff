"""The vocabulary of track roles, defined once for every layer.

A role says what a track does in the arrangement, not what instrument it is. The rules mixer
infers it (:mod:`mixassist.mixers.roles`), the neural controller reads it as a one-hot input,
and the data engines draw settings per role.
"""

__all__ = ["ROLES"]

ROLES: tuple[str, ...] = ("lead", "bass", "drums", "percussion", "chords", "pad", "arp", "fx")
"""Every role a track can have, in the order of the controller's one-hot input."""
