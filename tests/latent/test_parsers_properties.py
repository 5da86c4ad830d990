"""Property-based tests (hypothesis) for the three parsers that read user or stranger input: the latent code
spec, the config loader and the IDX reader. Each either returns a well-formed value or raises its one
documented error (ConfigError / DataError), whatever the input; valid values round-trip exactly."""

from __future__ import annotations

import copy
import gzip
import json
import struct
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import infogan
from infogan.config import RunConfig
from infogan.data.idx import IDX_DTYPES, parse_idx, read_idx, write_idx
from infogan.errors import ConfigError, DataError
from infogan.latent.spec import Categorical, Continuous, LatentSpec, Noise
from infogan.latent.syntax import format_latent, parse_latent

# modest example counts: the whole module runs in seconds; no deadline (shared CI machines stall)
FAST = settings(max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
SLOW = settings(max_examples=40, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])

# ----- strategies ---------------------------------------------------------------------------------------------
lambdas = st.integers(0, 2000).map(lambda i: i / 100)  # at most 6 significant digits: exact through "%g"
sigmas = st.integers(1, 500).map(lambda i: i / 100)
categorical = st.builds(Categorical, k=st.integers(2, 60), lambda_info=lambdas)
continuous = st.one_of(  # fixed_std only means something (and is only written) when the std is fixed
    st.builds(Continuous, prior=st.sampled_from(["uniform", "normal"]), lambda_info=lambdas, q_std=st.just("learned")),
    st.builds(Continuous, prior=st.sampled_from(["uniform", "normal"]), lambda_info=lambdas, q_std=st.just("fixed"),
              fixed_std=sigmas))
noise = st.builds(Noise, dim=st.integers(0, 300), prior=st.sampled_from(["uniform", "normal"]))


@st.composite
def latent_specs(draw) -> LatentSpec:
    spec_noise = draw(noise)
    codes = draw(st.lists(st.one_of(categorical, continuous), min_size=0 if spec_noise.dim else 1, max_size=6))
    return LatentSpec(spec_noise, tuple(codes))


json_leaf = st.one_of(st.none(), st.booleans(), st.integers(-(10**6), 10**6),
                      st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12))
json_values = st.recursive(json_leaf, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                              st.dictionaries(st.text(max_size=8), inner, max_size=4)),
                           max_leaves=12)
SPEC_ALPHABET = "noisecatunifgaussxlambdastdfixedlearnedsigmaormlpr0123456789:=,.- "


# ----- the latent code spec parser ----------------------------------------------------------------------------
@FAST
@given(latent_specs())
def test_spec_string_round_trips(spec):
    again = parse_latent(format_latent(spec))
    assert again == spec
    assert again.g_input_dim == spec.noise.dim + sum(c.k if isinstance(c, Categorical) else 1 for c in spec.codes)


@FAST
@given(latent_specs())
def test_spec_dict_round_trips(spec):
    assert LatentSpec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec


@FAST
@given(st.integers(0, 200), st.integers(2, 40), st.integers(1, 5), st.integers(0, 5), st.booleans())
def test_spec_sizes_follow_the_items(n, k, m, u, fixed):
    text = f"noise{n},cat{k}x{m}" + (f",unif{u}" + (":std=fixed" if fixed else "") if u else "")
    spec = parse_latent(text)
    assert spec.g_input_dim == n + k * m + u
    assert spec.q_output_dim == k * m + u * (1 if fixed else 2)
    assert spec.code_names() == [f"c{i + 1}" for i in range(m + u)]


@FAST
@given(st.one_of(st.text(max_size=40), st.text(alphabet=SPEC_ALPHABET, max_size=40)))
def test_any_spec_string_parses_or_raises_config_error(text):
    try:
        spec = parse_latent(text)
    except ConfigError:
        return
    assert isinstance(spec, LatentSpec) and spec.g_input_dim > 0
    assert all(c.k >= 2 for c in spec.codes if isinstance(c, Categorical))
    assert parse_latent(format_latent(spec)) == spec


@FAST
@given(json_values)
def test_any_spec_object_loads_or_raises_config_error(value):
    try:
        spec = LatentSpec.from_dict(value)
    except ConfigError:
        return
    assert isinstance(spec, LatentSpec)


# ----- the config loader --------------------------------------------------------------------------------------
@st.composite
def run_configs(draw) -> RunConfig:
    tick = draw(st.integers(1, 50))
    return infogan.get_preset(draw(st.sampled_from(["mnist", "mnist-official", "fake"]))).replace(
        model={"latent": draw(latent_specs()), "leaky_slope": draw(st.sampled_from([0.0, 0.01, 0.1, 0.2])),
               "output": draw(st.sampled_from(["sigmoid", "tanh"]))},
        optim={"lr_d": draw(st.floats(1e-6, 1.0)), "lr_g": draw(st.floats(1e-6, 1.0)),
               "beta1": draw(st.floats(0.0, 0.99))},
        train={"iterations": draw(st.integers(1, 10**6)), "batch_size": draw(st.integers(1, 4096)), "tick": tick,
               "snapshot_every": tick * draw(st.integers(1, 20)), "seed": draw(st.integers(0, 2**31)),
               "nan_policy": draw(st.sampled_from(["stop", "rollback"])),
               "precision": draw(st.sampled_from(["auto", "fp32", "bf16"]))},
        data={"subset": draw(st.integers(0, 10**5))})


@FAST
@given(run_configs())
def test_config_json_round_trips(cfg):
    assert RunConfig.from_json(cfg.to_json()) == cfg


def _paths(tree, prefix=()):
    """Every (path, value) inside a JSON tree of dicts and lists."""
    yield prefix, tree
    if isinstance(tree, dict):
        for key, value in tree.items():
            yield from _paths(value, (*prefix, key))
    elif isinstance(tree, list):
        for i, value in enumerate(tree):
            yield from _paths(value, (*prefix, i))


BASE = json.loads(infogan.get_preset("fake").to_json())
PATHS = [p for p, _ in _paths(BASE) if p]


@FAST
@given(st.sampled_from(PATHS), json_values, st.sampled_from(["replace", "delete", "add"]), st.text(max_size=8))
def test_a_mutated_config_loads_or_raises_config_error(path, value, how, new_key):
    data = copy.deepcopy(BASE)
    parent = data
    for key in path[:-1]:
        parent = parent[key]
    if how == "replace":
        parent[path[-1]] = value
    elif how == "delete":
        del parent[path[-1]]
    elif isinstance(parent, dict):
        parent[new_key] = value
    else:
        parent.append(value)
    try:
        cfg = RunConfig.from_dict(data)
    except ConfigError:
        return
    assert RunConfig.from_json(cfg.to_json()) == cfg  # what loads is well-formed and serialises


@FAST
@given(st.one_of(json_values, st.text(max_size=30).map(json.dumps), st.binary(max_size=30)))
def test_any_json_loads_or_raises_config_error(value):
    text = value.decode("latin-1") if isinstance(value, bytes) else json.dumps(value)
    try:
        RunConfig.from_json(text)
    except ConfigError:
        pass


def test_deeply_nested_config_is_a_config_error():
    with pytest.raises(ConfigError, match="nested too deeply"):
        RunConfig.from_json("[" * 100_000 + "]" * 100_000)


# ----- the IDX reader -----------------------------------------------------------------------------------------
idx_arrays = st.sampled_from(sorted(IDX_DTYPES)).flatmap(
    lambda code: hnp.arrays(IDX_DTYPES[code].newbyteorder("="), hnp.array_shapes(min_dims=1, max_dims=4, max_side=6)))


@SLOW
@given(idx_arrays, st.booleans())
def test_idx_round_trips(array, gz):
    with tempfile.TemporaryDirectory() as folder:
        path = write_idx(Path(folder) / ("a.gz" if gz else "a"), array)
        back = read_idx(path)
    assert back.dtype == array.dtype and back.shape == array.shape
    np.testing.assert_array_equal(back, array)  # NaN == NaN here


def _idx_bytes(array: np.ndarray) -> bytes:
    code = next(c for c, dt in IDX_DTYPES.items() if dt.newbyteorder("=") == array.dtype)
    header = struct.pack(f">HBB{array.ndim}I", 0, code, array.ndim, *array.shape)
    return header + array.astype(IDX_DTYPES[code]).tobytes()


def _parse_or_data_error(data: bytes):
    try:
        return parse_idx(data, "input")
    except DataError:
        return None


@FAST
@given(idx_arrays, st.data())
def test_truncated_or_extended_idx_is_refused(array, data):
    raw = _idx_bytes(array)
    cut = data.draw(st.integers(0, len(raw) - 1))
    assert _parse_or_data_error(raw[:cut]) is None
    assert _parse_or_data_error(raw + data.draw(st.binary(min_size=1, max_size=8))) is None
    gz = gzip.compress(raw, mtime=0)
    assert _parse_or_data_error(gz[: data.draw(st.integers(2, len(gz) - 1))]) is None


@FAST
@given(idx_arrays, st.data())
def test_any_byte_flip_parses_or_raises_data_error(array, data):
    raw = bytearray(_idx_bytes(array))
    i = data.draw(st.integers(0, len(raw) - 1))
    raw[i] ^= data.draw(st.integers(1, 255))
    out = _parse_or_data_error(bytes(raw))
    if out is not None:  # a flip in the data, or a header that still adds up: a well-formed array
        assert out.size * out.dtype.itemsize + 4 + 4 * out.ndim == len(raw)


@FAST
@given(st.sampled_from(sorted(IDX_DTYPES) + [0, 7, 0xFF]), st.lists(st.integers(0, 2**32 - 1), min_size=0, max_size=6),
       st.binary(max_size=64))
def test_any_header_parses_or_raises_data_error(code, dims, body):
    assume(len(dims) < 256)
    out = _parse_or_data_error(struct.pack(f">HBB{len(dims)}I", 0, code, len(dims), *dims) + body)
    if out is not None:
        assert list(out.shape) == dims


@FAST
@given(st.binary(max_size=200))
def test_any_bytes_parse_or_raise_data_error(data):
    _parse_or_data_error(data)
    _parse_or_data_error(b"\x1f\x8b" + data)  # as if gzip
    _parse_or_data_error(gzip.compress(data, mtime=0))


def test_header_whose_size_overflows_64_bits_is_refused():
    # 65536^4 elements = 2^64: a product in 64-bit integers wraps to 0 and would match an empty body
    with pytest.raises(DataError, match="truncated"):
        parse_idx(struct.pack(">HBB4I", 0, 0x08, 4, *[65536] * 4), "huge")
