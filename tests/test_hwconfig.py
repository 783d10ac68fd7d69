"""The hardware config is the single source of the C header and the extension's config."""

import pytest

from l2g.hwconfig import CONFIGS, get_config


def test_ibert_header_differs_from_default_only_where_the_spec_says():
    # gemmini-isa.md §1.1: ACC_ROWS, HAS_NORMALIZATIONS and NORM_STAT_IDS; we additionally
    # omit HAS_MAX_POOL / HAS_TRAINING_CONVS, which the I-BERT build disables.
    d = set(get_config("default").c_header().splitlines())
    i = set(get_config("ibert").c_header().splitlines())
    name_lines = {l for l in d ^ i if "L2G_GEMMINI_CONFIG_NAME" in l or "from config" in l}
    assert (i - d) - name_lines == {"#define ACC_ROWS 2048", "#define HAS_NORMALIZATIONS", "#define NORM_STAT_IDS 2"}
    assert (d - i) - name_lines == {"#define ACC_ROWS 1024", "#define HAS_MAX_POOL", "#define HAS_TRAINING_CONVS"}


def test_extension_config_lists_every_field():
    cfg = get_config("ibert")
    kv = dict(
        line.split(" = ") for line in cfg.extension_config().splitlines() if line and not line.startswith("#")
    )
    assert kv["dim"] == "16" and kv["acc_rows"] == "2048" and kv["has_normalizations"] == "1"
    assert any(k.startswith("timing.") for k in kv)


def test_overrides_and_validation():
    cfg = get_config("default", dim=32, acc_rows=4096)
    assert cfg.dim == 32 and cfg.acc_bytes == 4096 * 32 * 4
    with pytest.raises(ValueError, match="power of two"):
        get_config("default", sp_bank_rows=1000)
    with pytest.raises(KeyError, match="known configs: default, ibert"):
        get_config("nope")
    assert set(CONFIGS) >= {"default", "ibert"}
