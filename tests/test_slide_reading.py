"""The words with which exports record how a section's slide was read."""

from __future__ import annotations

import pytest

from cytowords.sections import Section
from cytowords.slide_reading import SECTION_KEY, section_slide, slide_reading


@pytest.mark.parametrize(
    ("inverted", "choice", "want"),
    [
        (False, "auto", "bright field (judged from the image)"),
        (True, "auto", "fluorescent, read inverted (judged from the image)"),
        (True, "dark", "fluorescent, read inverted (chosen)"),
        (False, "dark", "fluorescent, read inverted (chosen)"),
        (False, "bright", "bright field (chosen)"),
    ],
)
def test_the_reading_in_words(inverted, choice, want) -> None:
    assert slide_reading(inverted, choice) == want


def test_a_reading_that_is_no_choice_is_refused() -> None:
    with pytest.raises(ValueError, match="slide 'inverted': expected one of auto, bright, dark"):
        slide_reading(None, "inverted")


def test_a_section_says_its_reading_when_its_opener_recorded_one() -> None:
    import numpy as np

    sec = Section([np.zeros((4, 4), np.uint8)], pixel_size_um=[1.0])
    assert section_slide(sec) is None
    sec.metadata[SECTION_KEY] = "bright field (chosen)"
    assert section_slide(sec) == "bright field (chosen)"
