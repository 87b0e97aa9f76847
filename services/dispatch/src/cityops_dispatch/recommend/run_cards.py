"""The run card (response plan) of an incident as the API shows it next to the recommendations."""

from __future__ import annotations

from cityops.dispatch.v1 import dispatch_pb2
from cityops_dispatch.rules import RunCard


def run_card_pb(card: RunCard | None) -> dispatch_pb2.RunCard:
    """The card's name and slots (capability, count) in card order; an empty message for None."""
    if card is None:
        return dispatch_pb2.RunCard()
    return dispatch_pb2.RunCard(
        name=card.name, units=[dispatch_pb2.RunCardSlot(capability=s.capability, count=s.count) for s in card.units]
    )
