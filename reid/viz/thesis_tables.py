"""The thesis's published re-ID results (Tables 5.10 and 5.11), so a report can set this project's rows beside them.

Source: Laura Álvarez González, *Image Generation using Generative Adversarial
Networks for Training Data Augmentation in Person Re-Identification Models*,
master's thesis, Autonomous University of Yucatan, Faculty of Mathematics,
§5.2, Tables 5.10 and 5.11: Market-1501, ResNet-50, 60 epochs, one training
run per row; mAP is layumi's trapezoid AP. The Img. column of Table 5.10
writes some thousands with a period (1.682 = 1,682 images).
"""

from __future__ import annotations

from typing import NamedTuple

CITATION = ("L. Álvarez González, *Image Generation using Generative Adversarial Networks for Training Data "
            "Augmentation in Person Re-Identification Models*, master's thesis, Autonomous University of Yucatan, "
            "§5.2")


class ThesisRow(NamedTuple):
    persons: int
    images: int  # Table 5.10: images added in total; Table 5.11: images added per real person
    rank1: float
    rank5: float
    rank10: float
    mAP: float  # trapezoid AP


#: Table 5.10: artificial persons added as new classes (Pers.) and the images they bring (Img.).
TABLE_5_10 = (
    ThesisRow(0, 0, 0.893112, 0.964964, 0.977732, 0.742632),
    ThesisRow(10, 473, 0.888955, 0.964074, 0.980404, 0.743795),
    ThesisRow(20, 874, 0.892221, 0.961105, 0.974169, 0.745116),
    ThesisRow(30, 1252, 0.891627, 0.965558, 0.979513, 0.741414),
    ThesisRow(40, 1682, 0.890143, 0.964371, 0.979513, 0.748799),
    ThesisRow(50, 2046, 0.894299, 0.962589, 0.978028, 0.746853),
    ThesisRow(60, 2427, 0.901128, 0.967637, 0.980404, 0.751229),
    ThesisRow(70, 2859, 0.892815, 0.965261, 0.978325, 0.748843),
    ThesisRow(80, 3214, 0.892518, 0.965261, 0.977732, 0.748257),
    ThesisRow(90, 3647, 0.899347, 0.964964, 0.979216, 0.758927),
    ThesisRow(100, 4058, 0.898159, 0.964667, 0.980998, 0.755366),
    ThesisRow(150, 6167, 0.898753, 0.965261, 0.979513, 0.761433),
    ThesisRow(200, 8223, 0.896378, 0.967340, 0.980701, 0.763768),
    ThesisRow(250, 10307, 0.893705, 0.964964, 0.980107, 0.762484),
    ThesisRow(280, 11244, 0.903504, 0.966746, 0.982185, 0.767955),
    ThesisRow(300, 12320, 0.896081, 0.963777, 0.978919, 0.768727),
    ThesisRow(320, 14371, 0.896675, 0.965855, 0.978622, 0.769509),
)

#: Table 5.11: generated variants of each of the 751 real training persons (Img. = images per person).
TABLE_5_11 = (
    ThesisRow(0, 0, 0.893112, 0.964964, 0.977732, 0.742632),
    ThesisRow(751, 5, 0.886876, 0.959620, 0.975950, 0.719692),
    ThesisRow(751, 10, 0.878860, 0.958432, 0.977138, 0.704901),
    ThesisRow(751, 15, 0.870546, 0.958729, 0.969715, 0.686172),
    ThesisRow(751, 20, 0.865796, 0.950119, 0.972981, 0.674047),
    ThesisRow(751, 25, 0.861342, 0.955166, 0.971793, 0.663773),
    ThesisRow(751, 30, 0.850950, 0.951010, 0.969121, 0.654492),
    ThesisRow(751, 35, 0.845606, 0.940915, 0.964074, 0.635790),
    ThesisRow(751, 40, 0.841449, 0.944477, 0.966746, 0.640035),
    ThesisRow(751, 45, 0.826306, 0.935273, 0.961105, 0.630469),
    ThesisRow(751, 60, 0.829869, 0.938836, 0.960214, 0.624382),
    ThesisRow(751, 70, 0.832245, 0.942102, 0.965855, 0.623470),
    ThesisRow(751, 85, 0.825713, 0.935570, 0.959620, 0.614014),
    ThesisRow(751, 105, 0.817399, 0.932304, 0.958729, 0.605653),
    ThesisRow(751, 135, 0.813539, 0.931710, 0.958135, 0.601084),
)

THESIS_BASELINE = TABLE_5_10[0]


def thesis_row_for_persons(persons: int) -> ThesisRow | None:
    """The Table 5.10 row that added this many artificial persons, if the thesis trained one."""
    return next((row for row in TABLE_5_10 if row.persons == persons), None)


def thesis_row_for_images_per_person(images: int) -> ThesisRow | None:
    """The Table 5.11 row with this many images per real person, if the thesis trained one."""
    return next((row for row in TABLE_5_11 if row.images == images), None)
