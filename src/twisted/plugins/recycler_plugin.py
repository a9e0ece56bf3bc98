"""twistd plugin: ``twistd -n recycler`` runs a self-recycling pre-fork worker pool."""

from twisted.application.service import ServiceMaker

recycler = ServiceMaker(
    "recycler",
    "recycler.tap",
    "A pre-fork process pool whose workers recycle without dropping a request.",
    "recycler",
)
