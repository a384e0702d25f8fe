"""Consuming other services' topics into a service's own database, exactly once.

- ``messages``: what arrives, parsed into deliveries of events;
- ``tracking``: the offsets and stream versions applied, written with what they applied;
- ``lost_log``: noticing a broker that lost or replaced its log;
- ``dead_lettering``: what cannot be applied, set aside with the reason, and re-driven;
- ``runner``: the loop that ties them together.
"""

from libs.events.consumer.dead_lettering import set_aside, supersede
from libs.events.consumer.messages import BatchHandler, Delivery, Handler, Message, parse
from libs.events.consumer.runner import INFRASTRUCTURE_ERRORS, ConsumerRunner, HandlerFailed

__all__ = [
    "INFRASTRUCTURE_ERRORS",
    "BatchHandler",
    "ConsumerRunner",
    "Delivery",
    "Handler",
    "HandlerFailed",
    "Message",
    "parse",
    "set_aside",
    "supersede",
]
