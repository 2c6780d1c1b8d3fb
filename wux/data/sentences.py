"""A grammar that writes many different English sentences from a seed."""

from __future__ import annotations

import numpy as np

SUBJECTS = [
    "the old fisherman", "my younger sister", "a tired engineer", "the village baker", "our new neighbour",
    "the quiet librarian", "a small brown dog", "the bus driver", "every student", "the team captain",
    "a curious child", "the night nurse", "the farmer's wife", "my best friend", "the tall stranger",
    "the orchestra", "a busy waiter", "the ship's cook", "the museum guide", "a careful pilot",
]
VERBS = [
    "carried", "painted", "found", "repaired", "described", "ordered", "borrowed", "delivered",
    "measured", "ignored", "remembered", "photographed", "cleaned", "counted", "sold", "wrapped",
    "followed", "tested", "moved", "explained",
]
OBJECTS = [
    "a heavy wooden chair", "seven green bottles", "the broken clock", "an unusual letter",
    "the garden fence", "three yellow umbrellas", "the kitchen window", "a map of the harbour",
    "the silver bicycle", "twelve fresh oranges", "the leather suitcase", "a box of old records",
    "the copper kettle", "the winter coats", "a basket of plums", "the noisy radio",
    "a pair of red boots", "the stone bridge", "the last train ticket", "a jar of honey",
]
PLACES = [
    "near the station", "before breakfast", "on a rainy Thursday", "behind the church",
    "at the edge of town", "during the storm", "after the concert", "in the early morning",
    "beside the river", "on the second floor", "under the bright lights", "at half past nine",
    "without a word", "for the first time", "in the crowded market", "late last autumn",
]
QUESTIONS = [
    "Did you see where {s} put {o}?", "Why has {s} {v} {o} {p}?", "Who told {s} about {o}?",
    "Could {s} have {v} {o} {p}?",
]
STATEMENTS = [
    "{S} {v} {o} {p}.", "{P}, {s} {v} {o}.", "{S} never {v} {o}, but {s2} did.",
    "{S} {v} {o} and then {v2} {o2}.", "It was {n} minutes past {h} when {s} {v} {o}.",
    "{S} said that {o} cost {n} dollars.",
]
NUMBERS = ["five", "ten", "fifteen", "twenty", "thirty", "forty two", "sixty", "ninety nine"]
HOURS = ["one", "two", "four", "six", "eight", "eleven", "noon", "midnight"]


def sentence(rng: np.random.Generator) -> str:
    def pick(options):
        return options[int(rng.integers(0, len(options)))]

    words = {
        "s": pick(SUBJECTS), "s2": pick(SUBJECTS), "v": pick(VERBS), "v2": pick(VERBS),
        "o": pick(OBJECTS), "o2": pick(OBJECTS), "p": pick(PLACES), "n": pick(NUMBERS),
        "h": pick(HOURS),
    }
    words["S"] = words["s"][0].upper() + words["s"][1:]
    words["P"] = words["p"][0].upper() + words["p"][1:]
    template = pick(QUESTIONS) if rng.random() < 0.2 else pick(STATEMENTS)
    return template.format(**words)
