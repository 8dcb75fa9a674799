"""reid.config: params sections checked against type hints, and `--set` overrides."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
import yaml

from reid.config import apply_overrides, from_section, load_section
from reid.errors import ReidError


@dataclass(frozen=True)
class Detector:
    backend: str = "hog"
    threshold: float = 0.0
    options: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Filter:
    detector: Detector = field(default_factory=Detector)
    ssim_threshold: float = 0.75
    batch: int = 256
    mirror: bool = True
    layers: dict[str, list[int]] = field(default_factory=lambda: {"coarse": [0, 1]})
    shares: dict[str, float] = field(default_factory=lambda: {"coarse": 0.5})
    seeds: list[int] = field(default_factory=list)
    weights: list[float] = field(default_factory=list)
    names: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Required:
    size: int


@dataclass(frozen=True)
class Untyped:
    anything: dict = field(default_factory=dict)


def build(text: str) -> Filter:
    return from_section(Filter, yaml.safe_load(text), "filter")


def error(fn, *args) -> str:
    with pytest.raises(ReidError) as info:
        fn(*args)
    return str(info.value)


# from_section


def test_values_follow_the_type_hints():
    config = build(
        "detector: {backend: yolov4-tiny, threshold: 1, options: {cfg: a.cfg}}\n"
        "ssim_threshold: 1\nbatch: 8\nmirror: false\n"
        "layers: {fine: [3, 4]}\nshares: {fine: 1}\nseeds: [1, 2]\nweights: [1, 0.5]\nnames: [a, b]\n"
    )
    assert config.detector == Detector("yolov4-tiny", 1.0, {"cfg": "a.cfg"})
    assert type(config.detector.threshold) is float and type(config.ssim_threshold) is float
    assert type(config.shares["fine"]) is float and [type(w) for w in config.weights] == [float, float]
    assert (config.batch, config.mirror, config.layers, config.seeds, config.names) == (
        8, False, {"fine": [3, 4]}, [1, 2], ["a", "b"]
    )


def test_missing_keys_and_sub_sections_take_the_defaults():
    assert build("batch: 4") == Filter(batch=4)
    assert build("detector: {threshold: 0.5}").detector == Detector(threshold=0.5)
    assert from_section(Filter, None, "filter") == Filter()


def test_a_key_with_no_value_is_empty_for_text_lists_and_mappings():
    config = build("detector:\n  backend:\n  options:\nseeds:\nlayers:\n")
    assert config.detector == Detector(backend="", options={})
    assert (config.seeds, config.layers) == ([], {})


@pytest.mark.parametrize(
    "text, message",
    [
        ("batch: true", "params: filter.batch must be an int, got True"),
        ("ssim_threshold: false", "params: filter.ssim_threshold must be a float, got False"),
        ("batch: 2.0", "params: filter.batch must be an int, got 2.0"),
        ("mirror: 1", "params: filter.mirror must be a bool, got 1"),
        ("batch:", "params: filter.batch must be an int, got None"),
        ("detector: {backend: 3}", "params: filter.detector.backend must be a str, got 3"),
        ("detector: {threshold: x}", "params: filter.detector.threshold must be a float, got 'x'"),
        ("detector: 5", "params: filter.detector must be a mapping (section), got 5"),
        ("detector: hog", "params: filter.detector must be a mapping (section), got 'hog'"),
        ("detector: [hog]", "params: filter.detector must be a mapping (section), got ['hog']"),
        ("layers: {fine: 3}", "params: filter.layers.fine must be a list of int, got 3"),
        ("layers: [1, 2]", "params: filter.layers must be a mapping of str to list of int, got [1, 2]"),
        ("layers: {1: [0]}", "params: filter.layers must be a mapping of str to list of int, got {1: [0]}"),
        ("layers: {fine: [1, a]}", "params: filter.layers.fine[1] must be an int, got 'a'"),
        ("shares: {fine: high}", "params: filter.shares.fine must be a float, got 'high'"),
        ("seeds: 3", "params: filter.seeds must be a list of int, got 3"),
        ("names: [a, 1]", "params: filter.names[1] must be a str, got 1"),
        ("detector: {options: {cfg: 1}}", "params: filter.detector.options.cfg must be a str, got 1"),
    ],
)
def test_a_wrong_type_names_the_dotted_key_the_type_and_the_value(text, message):
    assert error(build, text) == message


@pytest.mark.parametrize(
    "text, shown",
    [
        ("ssim_threshold: .inf", "inf"),
        ("ssim_threshold: -.inf", "-inf"),
        ("ssim_threshold: .nan", "nan"),
        ("shares: {fine: .inf}", "inf"),
        ("weights: [1, .nan]", "nan"),
        (f"ssim_threshold: {10 ** 400}", str(10**400)),
    ],
)
def test_floats_must_be_finite(text, shown):
    message = error(build, text)
    assert message.endswith(f"must be a finite number, got {shown}")
    assert message.startswith("params: filter.")


def test_an_exponent_yaml_reads_as_text_says_how_to_write_it():
    assert "write e.g. 1.0e-3" in error(build, "ssim_threshold: 1e-3")
    assert build("ssim_threshold: 1.0e-3").ssim_threshold == 0.001


def test_unknown_keys_are_refused_with_the_dotted_path_and_the_known_keys():
    assert error(build, "detector: {treshold: 0.5}") == (
        "params: unknown key filter.detector.treshold (known: backend, options, threshold)"
    )
    assert error(build, "bach: 8").startswith("params: unknown key filter.bach (known: batch, detector,")


def test_a_section_that_is_not_a_mapping_is_refused():
    assert error(from_section, Filter, 5, "filter") == "params: filter must be a mapping (section), got 5"


def test_a_field_without_default_is_required():
    assert error(from_section, Required, {}, "req") == "params: missing key req.size"
    assert from_section(Required, {"size": 2}, "req") == Required(2)


def test_an_unsupported_type_hint_is_a_programming_error():
    with pytest.raises(TypeError, match="not <class 'dict'>"):
        from_section(Untyped, {}, "untyped")


def test_a_non_mapping_section_in_the_params_file_is_refused(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("filter: 5\nother: {}\n")
    assert error(lambda: from_section(Filter, load_section("filter", path), "filter")) == (
        "params: filter must be a mapping (section), got 5"
    )
    assert error(load_section, "missing", path) == f"{path}: no 'missing:' section"


# apply_overrides

SECTION = {"seed": 3, "detector": {"backend": "hog", "threshold": 1.9, "options": {}}, "ssim": {"threshold": 0.75}}


def test_a_dotted_key_sets_one_key_inside_a_mapping():
    result = apply_overrides(SECTION, ["detector.threshold=0.5"], "filter")
    assert result["detector"] == {"backend": "hog", "threshold": 0.5, "options": {}}
    assert result["ssim"] == SECTION["ssim"] and result["seed"] == 3


def test_the_section_prefix_is_accepted():
    result = apply_overrides(SECTION, ["filter.detector.threshold=0.5", "filter.seed=4"], "filter")
    assert (result["detector"]["threshold"], result["seed"]) == (0.5, 4)
    assert "filter" not in result


def test_missing_intermediate_mappings_are_created():
    result = apply_overrides({"layers": None}, ["gan.fid.num_images=0", "layers.fine=[1, 2]"], "gan")
    assert result == {"fid": {"num_images": 0}, "layers": {"fine": [1, 2]}}


def test_a_mapping_value_merges_into_a_mapping_and_keeps_the_siblings():
    result = apply_overrides(SECTION, ["detector={backend: yolov4-tiny, options: {cfg: a.cfg}}"], "filter")
    assert result["detector"] == {"backend": "yolov4-tiny", "threshold": 1.9, "options": {"cfg": "a.cfg"}}


def test_other_values_replace():
    result = apply_overrides(SECTION, ["ssim=[1, 2]", "seed={a: 1}", "detector.backend="], "filter")
    assert (result["ssim"], result["seed"], result["detector"]["backend"]) == ([1, 2], {"a": 1}, None)


def test_later_pairs_win():
    assert apply_overrides({}, ["seed=1", "seed=2"], "data") == {"seed": 2}


def test_the_input_is_not_mutated():
    before = yaml.safe_load(yaml.safe_dump(SECTION))
    apply_overrides(SECTION, ["detector.threshold=0.5", "detector.options={cfg: x}", "seed=9", "new.key=1"], "filter")
    assert SECTION == before


def test_invalid_yaml_is_one_line_naming_the_key():
    message = error(apply_overrides, SECTION, ["seed=[1,"], "filter")
    assert message == "--set seed=[1,: value is not valid YAML (while parsing a flow node)"


def test_setting_below_a_non_mapping_is_refused():
    assert error(apply_overrides, SECTION, ["seed.x=1"], "filter") == "--set seed.x=1: filter.seed is 3, not a mapping"
    assert "filter.detector.backend is 'hog'" in error(apply_overrides, SECTION, ["detector.backend.x=1"], "filter")


@pytest.mark.parametrize("pair", ["x", "=1", " =1", "detector..x=1", "filter.=1"])
def test_a_pair_needs_a_key_and_an_equals_sign(pair):
    assert error(apply_overrides, SECTION, [pair], "filter") == f"--set expects key=value, got {pair!r}"


def test_overrides_then_from_section_check_the_result():
    values = apply_overrides({"detector": {"backend": "hog"}}, ["detector.threshold=x"], "filter")
    assert error(from_section, Filter, values, "filter") == "params: filter.detector.threshold must be a float, got 'x'"


@pytest.mark.parametrize(
    "call",
    [
        lambda: from_section(Filter, {"detector": {"backend": "a\nb\n"}, "batch": "1\n2"}, "filter"),
        lambda: from_section(Filter, {"names": ["a\nb", 1]}, "filter"),
        lambda: from_section(Filter, {"layers": {"x\ny": 3}}, "filter"),
        lambda: from_section(Filter, {"a\nb": 1}, "filter"),
        lambda: from_section(Filter, "a\nb", "filter"),
        lambda: from_section(Filter, {"shares": {"fine": float("nan")}}, "filter"),
        lambda: apply_overrides({}, ["seed=[1,\n2"], "filter"),
        lambda: apply_overrides({}, ["seed={a: 1\n"], "filter"),
        lambda: apply_overrides({}, ["a\nb"], "filter"),
        lambda: apply_overrides({"s": 1}, ["s.x\n=1"], "filter"),
        lambda: apply_overrides({"s": "a\nb"}, ["s.x=1"], "filter"),
        lambda: apply_overrides({"s\n": 1}, ["s\n.x=1"], "filter"),
    ],
)
def test_every_error_is_one_line(call):
    message = error(call)
    assert message and "\n" not in message and "\r" not in message


@dataclass(frozen=True)
class _Threshold:
    value: float | str = "auto"


def test_a_union_takes_the_first_member_that_fits():
    assert from_section(_Threshold, {"value": 2}, "f").value == 2.0
    assert isinstance(from_section(_Threshold, {"value": 2}, "f").value, float)
    assert from_section(_Threshold, {"value": "auto"}, "f").value == "auto"
    with pytest.raises(ReidError, match=r"^params: f.value must be float or str, got \[1\]$"):
        from_section(_Threshold, {"value": [1]}, "f")
