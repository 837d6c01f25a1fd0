"""WAN links between an edge node and the cloud: emulated locally, or cut on a real node."""

from edgelab.link.base import (
    LINK_MODES,
    Link,
    LinkError,
    LinkMode,
    LinkState,
    LinkStateName,
    validate_degrade,
    validate_mode,
)
from edgelab.link.cluster import AnsibleLink
from edgelab.link.local import LocalLink

__all__ = [
    "LINK_MODES",
    "AnsibleLink",
    "Link",
    "LinkError",
    "LinkMode",
    "LinkState",
    "LinkStateName",
    "LocalLink",
    "validate_degrade",
    "validate_mode",
]
