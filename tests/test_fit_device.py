"""`pnmsim fit-device`: the log-likelihood's physics against mtj.p_switch, parameter recovery from
data drawn from the model with binomial noise (truth inside the printed 95 % intervals, and
interval coverage over seeds), the deviance against scipy's binomial pmf, the hierarchical
spread fit, the device part composed into a preset, and one-line refusals of bad data."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import binom

from pnmsim.config import ARCH_DIR, load_arch
from pnmsim.device import mtj
from pnmsim.device.fit import fit_device
from pnmsim.device.fit_data import read_switching_csv
from pnmsim.device.fit_likelihood import log_p_switch
from tests._cli import assert_user_error, invoke

TRUTH = {"delta": 60.0, "ic0_ua": 60.0, "tau_d_ns": 1.0, "tau0_ns": 1.0}


def synth_csv(path: Path, seed: int, *, trials: int = 200, devices: int = 1,
              ic0_cv: float = 0.0, currents: tuple[float, ...] = (75.0, 90.0, 120.0),
              factors: tuple[float, ...] = (0.5, 0.75, 1.0, 1.3, 1.7),
              direction: bool = False) -> Path:
    """Counts drawn with numpy's binomial from mtj.p_switch (the simulator's own physics)."""
    rng = np.random.default_rng(seed)
    s = math.sqrt(math.log1p(ic0_cv**2))
    lines = ["pulse_ns,current_ua,trials,switched" + (",direction" if direction else "")
             + (",device" if devices > 1 else "")]
    for d in range(devices):
        ic0 = TRUTH["ic0_ua"] * math.exp(s * rng.standard_normal() - s * s / 2)
        for cur in currents:
            t50 = float(mtj.pulse_for_probability(0.5, cur / TRUTH["ic0_ua"], TRUTH["delta"],
                                                  TRUTH["tau_d_ns"]))
            for f in factors:
                t = t50 * f
                p = float(mtj.p_switch(t, cur, ic0, TRUTH["delta"], TRUTH["tau_d_ns"],
                                       TRUTH["tau0_ns"]))
                row = f"{t!r},{cur!r},{trials},{rng.binomial(trials, p)}"
                if direction:
                    row += ",P->AP" if (len(lines) % 2) else ",AP->P"
                if devices > 1:
                    row += f",dev{d}"
                lines.append(row)
    path.write_text("\n".join(lines) + "\n")
    return path


# ----------------------------------------------------------------------------- physics twin
def test_log_probabilities_match_mtj_p_switch() -> None:
    rng = np.random.default_rng(0)
    t = rng.uniform(0.1, 30.0, 500)
    cur = rng.uniform(20.0, 150.0, 500)
    ic0 = rng.uniform(40.0, 80.0, 500)
    delta = rng.uniform(20.0, 70.0, 500)
    lp, lq = log_p_switch(t, cur, ic0, delta, 1.0, 1.0)
    p = mtj.p_switch(t, cur, ic0, delta, 1.0, 1.0)
    ok = (p > 1e-12) & (p < 1 - 1e-9)
    assert ok.sum() > 50
    np.testing.assert_allclose(np.exp(lp[ok]), p[ok], rtol=1e-9)
    np.testing.assert_allclose(np.exp(lq[ok]), 1 - p[ok], rtol=1e-6)


def test_log_probabilities_keep_precision_near_zero_and_one() -> None:
    # precessional, long pulse: g = (pi^2 D/4) e^{-2(i-1)t/tau_D} tiny, ln(1-P) ~ ln g
    d, i, t = 60.0, 2.0, 30.0
    ln_g = math.log(math.pi**2 * d / 4) - 2 * (i - 1) * t / 1.0
    lp, lq = log_p_switch(t, 120.0, 60.0, d, 1.0, 1.0)
    assert float(lq) == pytest.approx(ln_g, rel=1e-12)
    assert float(lp) == pytest.approx(-math.exp(ln_g), rel=1e-9)
    # thermal, tiny rate: r = t/(tau0 e^{D(1-i)}), ln P ~ ln r
    i = 0.3
    ln_r = math.log(5.0) - d * (1 - i)
    lp, lq = log_p_switch(5.0, 18.0, 60.0, d, 1.0, 1.0)
    assert float(lp) == pytest.approx(ln_r, rel=1e-12)


# ----------------------------------------------------------------------------- recovery
def test_recovers_known_parameters_within_printed_intervals(tmp_path: Path) -> None:
    csv = synth_csv(tmp_path / "d.csv", seed=11)
    res = invoke(["fit-device", str(csv), "--format", "json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    for name in ("delta", "ic0_ua", "tau_d_ns"):
        e = out["params"][name]
        assert e["status"] == "fitted"
        assert e["ci_low"] < TRUTH[name] < e["ci_high"], (name, e)
        assert e["ci_low"] < e["value"] < e["ci_high"]
    assert out["params"]["tau0_ns"] == {**out["params"]["tau0_ns"], "value": 1.0,
                                        "status": "fixed"}
    assert out["gof"]["dof"] == 15 - 3
    assert out["gof"]["p_deviance"] > 0.001


def test_interval_coverage_over_seeds(tmp_path: Path) -> None:
    """95 % intervals should cover the truth in about 95 % of data sets: with 12 seeds,
    fewer than 9 covers per parameter has probability 0.2 % for a correct 95 % interval."""
    n_seeds = 12
    covered = {k: 0 for k in ("delta", "ic0_ua", "tau_d_ns")}
    for seed in range(n_seeds):
        r = fit_device(read_switching_csv(synth_csv(tmp_path / f"{seed}.csv", seed,
                                                     trials=100)))
        for k in covered:
            e = r.params[k]
            covered[k] += int(e.ci_low < TRUTH[k] < e.ci_high)
    assert all(c >= 9 for c in covered.values()), covered


def test_deviance_matches_scipy_binomial(tmp_path: Path) -> None:
    data = read_switching_csv(synth_csv(tmp_path / "d.csv", seed=3))
    r = fit_device(data)
    p = mtj.p_switch(data.pulse_ns, data.current_ua, r.params["ic0_ua"].value,
                     r.params["delta"].value, r.params["tau_d_ns"].value, 1.0)
    k, n = data.switched, data.trials
    dev = 2 * np.sum(binom.logpmf(k, n, k / n) - binom.logpmf(k, n, p))
    pear = np.sum((k - n * p) ** 2 / (n * p * (1 - p)))
    assert r.gof.deviance == pytest.approx(dev, rel=1e-6)
    assert r.gof.pearson == pytest.approx(pear, rel=1e-6)
    # the maximum: the log-likelihood (with ln C(n,k)) equals scipy's at the estimates
    assert r.log_likelihood == pytest.approx(np.sum(binom.logpmf(k, n, p)), rel=1e-7)


def test_hierarchical_spread_recovered(tmp_path: Path) -> None:
    csv = synth_csv(tmp_path / "d.csv", seed=5, devices=8, ic0_cv=0.08, trials=100)
    r = fit_device(read_switching_csv(csv))
    assert r.spread_test is not None and r.spread_test["detected"]
    e = r.spreads["ic0_sigma"]
    assert e.ci_low < 0.08 < e.ci_high, e
    for k in ("delta", "ic0_ua", "tau_d_ns"):
        assert r.params[k].ci_low < TRUTH[k] < r.params[k].ci_high, (k, r.params[k])
    # the population mean's interval reflects 8 devices with CV 0.08: se(ln I_c0) >~ 0.08/sqrt(8)
    assert r.params["ic0_ua"].se_log > 0.5 * 0.08 / math.sqrt(8)


@pytest.mark.slow
def test_no_spread_when_devices_are_identical(tmp_path: Path) -> None:
    csv = synth_csv(tmp_path / "d.csv", seed=6, devices=4, ic0_cv=0.0, trials=100,
                    currents=(75.0, 120.0), factors=(0.6, 1.0, 1.5))
    r = fit_device(read_switching_csv(csv))
    assert r.spread_test is not None and not r.spread_test["detected"]
    assert r.spreads["ic0_sigma"].value == 0.0
    assert r.spreads["ic0_sigma"].status == "not detected"


# ----------------------------------------------------------------------------- part YAML
def test_part_composes_into_a_preset(tmp_path: Path) -> None:
    csv = synth_csv(tmp_path / "d.csv", seed=8, devices=4, ic0_cv=0.06, trials=100,
                    currents=(75.0, 120.0), factors=(0.6, 1.0, 1.5))
    part = tmp_path / "fitted.yaml"
    res = invoke(["fit-device", str(csv), "--out", str(part), "--format", "json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    text = part.read_text()
    for line in text.splitlines():
        if line.startswith("  ") and ":" in line:
            assert "# source:" in line, line
    assert "95% CI [" in text
    parts = ARCH_DIR / "parts"
    preset = tmp_path / "fitted_preset.yaml"
    preset.write_text(f"parts: [{parts / 'mtj_reference.yaml'}, fitted.yaml, "
                      f"{parts / 'periphery_reference.yaml'}]\nname: fitted\n")
    cfg = load_arch(preset)
    assert cfg.mtj.delta == pytest.approx(out["params"]["delta"]["value"], rel=1e-5)
    assert cfg.mtj.ic0_ua == pytest.approx(out["params"]["ic0_ua"]["value"], rel=1e-5)
    assert cfg.mtj.tau_d_ns == pytest.approx(out["params"]["tau_d_ns"]["value"], rel=1e-5)
    assert cfg.mtj.r_parallel_ohm == load_arch("reference").mtj.r_parallel_ohm
    sig = out["spreads"]["ic0_sigma"]["value"]
    assert cfg.variation.ic0_sigma == pytest.approx(sig, rel=1e-5, abs=1e-12)
    # never overwrites without --force
    assert_user_error(invoke(["fit-device", str(csv), "--out", str(part)]), "--out",
                      "--force")


def test_table_output_names_method_and_gof(tmp_path: Path) -> None:
    res = invoke(["fit-device", str(synth_csv(tmp_path / "d.csv", seed=1))])
    assert res.exit_code == 0, res.output
    assert "95% CI" in res.stdout and "Wald" in res.stdout
    assert "deviance" in res.stdout and "dof" in res.stdout and "Pearson" in res.stdout


@pytest.mark.slow
def test_example_csv_in_docs_fits() -> None:
    csv = Path(__file__).resolve().parents[1] / "docs" / "fit_example.csv"
    r = fit_device(read_switching_csv(csv))
    # truth of benchmarks/make_fit_example.py
    for k, v in (("delta", 55.0), ("ic0_ua", 65.0), ("tau_d_ns", 0.9)):
        assert r.params[k].ci_low < v < r.params[k].ci_high, (k, r.params[k])
    assert r.symmetry_test is not None and r.symmetry_test["available"]


# ----------------------------------------------------------------------------- refusals
HEADER = "pulse_ns,current_ua,trials,switched\n"


@pytest.mark.parametrize("text,needles", [
    ("pulse_ns,current_ua,trials\n1,80,10\n", ("missing column", "switched")),
    ("pulse_ns,current_ua,trials,switched,temp\n1,80,10,3,300\n", ("temp", "columns")),
    (HEADER + "1,80,10,12\n", ("row 2, column switched", "0..trials (10)")),
    (HEADER + "-1,80,10,3\n", ("row 2, column pulse_ns", "> 0")),
    (HEADER + "1,nan,10,3\n", ("row 2, column current_ua", "finite")),
    (HEADER + "1,80,2.5,1\n", ("row 2, column trials", "integer")),
    (HEADER + "1,80,10\n", ("row 2", "4 comma-separated fields")),
    (HEADER, ("no data rows",)),
    ("", ("empty file",)),
    ("pulse_ns,current_ua,trials,switched,direction\n1,80,10,3,up\n",
     ("column direction", "P->AP")),
])
def test_malformed_data_refused(tmp_path: Path, text: str, needles: tuple[str, ...]) -> None:
    f = tmp_path / "bad.csv"
    f.write_text(text)
    assert_user_error(invoke(["fit-device", str(f)]), str(f), *needles)


def test_missing_file_refused(tmp_path: Path) -> None:
    assert_user_error(invoke(["fit-device", str(tmp_path / "nope.csv")]), "nope.csv",
                      "existing CSV")


@pytest.mark.parametrize("outcome,needle", [("zero", "0 in every row"),
                                             ("one", "= trials in every row")])
def test_all_zero_or_all_one_refused(tmp_path: Path, outcome: str, needle: str) -> None:
    rows = [f"{t},{i},50,{0 if outcome == 'zero' else 50}" for t in (1, 2, 4) for i in (70, 90)]
    f = tmp_path / "d.csv"
    f.write_text(HEADER + "\n".join(rows) + "\n")
    assert_user_error(invoke(["fit-device", str(f)]), needle, "unidentifiable")


def test_single_current_refused(tmp_path: Path) -> None:
    csv = synth_csv(tmp_path / "d.csv", seed=1, currents=(90.0,))
    assert_user_error(invoke(["fit-device", str(csv)]), "two distinct currents")


def test_thermal_only_data_leave_tau_d_unidentified(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    rows = []
    for cur in (50.0, 52.0, 54.0):
        for t in (100.0, 300.0, 1000.0, 3000.0):
            p = float(mtj.p_switch(t, cur, 60.0, 60.0, 1.0, 1.0))
            rows.append(f"{t},{cur},200,{rng.binomial(200, p)}")
    f = tmp_path / "d.csv"
    f.write_text(HEADER + "\n".join(rows) + "\n")
    line = assert_user_error(invoke(["fit-device", str(f)]), "pooled fit")
    assert "tau_d_ns" in line or "not converged" in line


def test_model_rejected_by_goodness_of_fit(tmp_path: Path) -> None:
    """A device that switches at most half the time (P = P_model / 2) is nothing the MTJ
    model can produce: its P tends to 1 for long pulses."""
    csv = synth_csv(tmp_path / "full.csv", seed=9, trials=400)
    rng = np.random.default_rng(9)
    rows = []
    for ln in csv.read_text().splitlines()[1:]:
        t, i, n, _k = ln.split(",")
        p = 0.5 * float(mtj.p_switch(float(t), float(i), 60.0, 60.0, 1.0, 1.0))
        rows.append(f"{t},{i},{n},{rng.binomial(int(n), p)}")
    f = tmp_path / "d.csv"
    f.write_text(HEADER + "\n".join(rows) + "\n")
    assert_user_error(invoke(["fit-device", str(f)]), "goodness of fit", "--allow-misfit")
    part = tmp_path / "p.yaml"
    res = invoke(["fit-device", str(f), "--allow-misfit", "--out", str(part)])
    assert res.exit_code == 0, res.output
    assert "warning: the model is rejected" in res.stderr
    assert "# WARNING: the model is rejected" in part.read_text()


def test_direction_option_needs_the_column(tmp_path: Path) -> None:
    csv = synth_csv(tmp_path / "d.csv", seed=1)
    assert_user_error(invoke(["fit-device", str(csv), "--direction", "P->AP"]),
                      "--direction", "no direction column")


def test_direction_subset_fits(tmp_path: Path) -> None:
    csv = synth_csv(tmp_path / "d.csv", seed=4, direction=True,
                    factors=(0.5, 0.7, 0.85, 1.0, 1.15, 1.3, 1.7, 2.2))
    full = fit_device(read_switching_csv(csv))
    assert full.symmetry_test is not None and full.symmetry_test["available"]
    one = fit_device(read_switching_csv(csv), direction="P->AP")
    assert one.n_rows == sum(1 for ln in csv.read_text().splitlines() if ln.endswith("P->AP"))


def test_fit_tau0_with_thermal_rows(tmp_path: Path) -> None:
    """Rows below I_c0 (thermal activation, long pulses) identify tau_0 when it is freed."""
    rng = np.random.default_rng(4)
    tau0 = 2.0
    rows = []
    for cur in (75.0, 90.0, 120.0):
        t50 = float(mtj.pulse_for_probability(0.5, cur / 60.0, 60.0, 1.0))
        for f in (0.5, 0.75, 1.0, 1.3, 1.7):
            p = float(mtj.p_switch(t50 * f, cur, 60.0, 60.0, 1.0, tau0))
            rows.append(f"{t50 * f!r},{cur},200,{rng.binomial(200, p)}")
    for cur in (50.0, 54.0):
        tau = float(mtj.thermal_tau_ns(cur / 60.0, 60.0, tau0))
        for f in (0.3, 1.0, 3.0):
            p = float(mtj.p_switch(tau * f, cur, 60.0, 60.0, 1.0, tau0))
            rows.append(f"{tau * f!r},{cur},200,{rng.binomial(200, p)}")
    f = tmp_path / "d.csv"
    f.write_text(HEADER + "\n".join(rows) + "\n")
    r = fit_device(read_switching_csv(f), fit_tau0=True)
    truth = {**TRUTH, "tau0_ns": tau0}
    for k, e in r.params.items():
        assert e.status == "fitted"
        assert e.ci_low < truth[k] < e.ci_high, (k, e)


def test_spread_none_fits_population_only(tmp_path: Path) -> None:
    csv = synth_csv(tmp_path / "d.csv", seed=6, devices=3, trials=100, currents=(75.0, 120.0),
                    factors=(0.6, 1.0, 1.5))
    res = invoke(["fit-device", str(csv), "--spread", "none", "--format", "json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["spreads"] == {} and out["spread_test"] is None
    assert out["method"] == "binomial maximum likelihood"


@pytest.mark.slow
def test_two_spreads_drop_the_one_at_its_boundary(tmp_path: Path) -> None:
    """Devices differ in I_c0 only: asked for both spreads, the Delta spread's likelihood peaks
    at 0, so it is reported as not detected and the I_c0 spread is still fitted."""
    csv = synth_csv(tmp_path / "d.csv", seed=8, devices=4, ic0_cv=0.06, trials=100,
                    currents=(75.0, 120.0), factors=(0.6, 1.0, 1.5))
    r = fit_device(read_switching_csv(csv), spreads=("ic0", "delta"))
    assert r.spreads["delta_sigma"].status == "not detected"
    assert r.spreads["delta_sigma"].value == 0.0
    e = r.spreads["ic0_sigma"]
    assert e.status == "fitted" and e.ci_low < 0.06 < e.ci_high, e


def test_chibar_p_values() -> None:
    from scipy.stats import chi2

    from pnmsim.device.fit import _chibar_p
    # one variance on its boundary: 50:50 mixture of chi2_0 and chi2_1
    assert _chibar_p(3.0, 1) == pytest.approx(0.5 * chi2.sf(3.0, 1))
    # two: 1/4 chi2_0 + 1/2 chi2_1 + 1/4 chi2_2
    assert _chibar_p(3.0, 2) == pytest.approx(0.5 * chi2.sf(3.0, 1) + 0.25 * chi2.sf(3.0, 2))
    assert _chibar_p(0.0, 2) == 1.0


def test_asymmetric_directions_are_flagged(tmp_path: Path) -> None:
    """AP->P switching with a 10 % higher I_c0 than P->AP: the symmetry test rejects one
    parameter set for both, and each direction alone recovers its own I_c0."""
    rng = np.random.default_rng(12)
    rows = []
    for direction, ic0 in (("P->AP", 60.0), ("AP->P", 66.0)):
        for cur in (90.0, 120.0, 150.0):
            t50 = float(mtj.pulse_for_probability(0.5, cur / ic0, 60.0, 1.0))
            for f in (0.6, 0.8, 1.0, 1.25, 1.6):
                p = float(mtj.p_switch(t50 * f, cur, ic0, 60.0, 1.0, 1.0))
                rows.append(f"{t50 * f!r},{cur},200,{rng.binomial(200, p)},{direction}")
    f = tmp_path / "d.csv"
    f.write_text("pulse_ns,current_ua,trials,switched,direction\n" + "\n".join(rows) + "\n")
    r = fit_device(read_switching_csv(f), allow_misfit=True)
    assert r.symmetry_test is not None and r.symmetry_test["p_value"] < 1e-6
    assert any("P->AP and AP->P differ" in w for w in r.warnings)
    for direction, ic0 in (("P->AP", 60.0), ("AP->P", 66.0)):
        e = fit_device(read_switching_csv(f), direction=direction).params["ic0_ua"]
        assert e.ci_low < ic0 < e.ci_high, (direction, e)


def test_optimum_on_the_regime_seam_refused(tmp_path: Path) -> None:
    """Directions 30 % apart pooled: the best 'fit' pins I_c0 on a measured current, where the
    model's two regimes do not join; refused with a message that says so."""
    rng = np.random.default_rng(12)
    rows = []
    for direction, ic0 in (("P->AP", 60.0), ("AP->P", 78.0)):
        for cur in (90.0, 120.0, 150.0):
            t50 = float(mtj.pulse_for_probability(0.5, cur / ic0, 60.0, 1.0))
            for f in (0.6, 0.8, 1.0, 1.25, 1.6):
                p = float(mtj.p_switch(t50 * f, cur, ic0, 60.0, 1.0, 1.0))
                rows.append(f"{t50 * f!r},{cur},200,{rng.binomial(200, p)},{direction}")
    f = tmp_path / "d.csv"
    f.write_text("pulse_ns,current_ua,trials,switched,direction\n" + "\n".join(rows) + "\n")
    assert_user_error(invoke(["fit-device", str(f)]), "I_c0 pinned at the measured",
                      "--direction")
