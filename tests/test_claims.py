"""The `[claims]` table: defaults for the paper's claims, and clear errors for bad input."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from hpsearch.claims import ClaimsSpec, ComparisonClaim, FailureClaim, InsensitivityClaim
from hpsearch.errors import UserInputError

STUDY = {"adabound": ["lr", "gamma"], "adam": ["lr"], "sgd": ["lr", "momentum"]}


def test_defaults_decide_the_papers_claims() -> None:
    claims = ClaimsSpec()
    assert (claims.tolerance, claims.delta, claims.bootstrap) == (1.0, None, 2000)
    # V1: every searched hyperparameter of every optimizer, the paper's claimants first.
    assert claims.insensitivity_claims(STUDY) == [
        InsensitivityClaim("adabound", "lr"),
        InsensitivityClaim("adabound", "gamma"),
        *(InsensitivityClaim(o, h) for o, hps in STUDY.items() if o != "adabound" for h in hps),
    ]
    assert claims.comparison_claims(STUDY) == [
        ComparisonClaim("adabound", "adam", "lr"),
        ComparisonClaim("adabound", "sgd", "lr"),
    ]
    # V3: the paper's one admitted failure, for each claimant that searches lr.
    assert claims.failure_claims(STUDY) == [FailureClaim("adabound", "lr", 1.0)]


def test_failure_claims_are_read_and_checked() -> None:
    claims = ClaimsSpec(fails=["adabound.lr = 1", " adam.lr=0.1 "])
    assert claims.failure_claims(STUDY) == [
        FailureClaim("adabound", "lr", 1.0),
        FailureClaim("adam", "lr", 0.1),
    ]
    with pytest.raises(UserInputError, match=r"\[claims\]\.fails: `adam.gamma = 1`"):
        ClaimsSpec(fails=["adam.gamma = 1"]).check_against(STUDY)


def test_without_adabound_the_defaults_still_decide_each_optimizers_insensitivity() -> None:
    """A study of optimizers hpsearch does not ship (a plugin's, say) gets V1 claims by default;
    comparisons only where the spec names them."""
    study = {"prodigy": ["lr", "d_coef"], "adam": ["lr"]}
    assert ClaimsSpec().insensitivity_claims(study) == [
        InsensitivityClaim("prodigy", "lr"),
        InsensitivityClaim("prodigy", "d_coef"),
        InsensitivityClaim("adam", "lr"),
    ]
    assert ClaimsSpec().comparison_claims(study) == []


def test_explicit_claims_are_checked_against_the_study() -> None:
    claims = ClaimsSpec(insensitive=["adam.lr"], compare=[("sgd", "adam")])
    assert claims.insensitivity_claims(STUDY) == [InsensitivityClaim("adam", "lr")]
    with pytest.raises(
        UserInputError,
        match=r"\[claims\]\.insensitive: `adam.gamma` names "
        r"hyperparameter `gamma`.*expected one of: lr",
    ):
        ClaimsSpec(insensitive=["adam.gamma"]).check_against(STUDY)
    with pytest.raises(UserInputError, match=r"\[claims\]\.compare: .*`adagrad`.*expected one of"):
        ClaimsSpec(compare=[("adagrad", "adam")]).check_against(STUDY)
    with pytest.raises(UserInputError, match=r"\[claims\]\.ranges: `sgd.gamma`"):
        ClaimsSpec(ranges={"sgd": {"gamma": (0.1, 1.0)}}).check_against(STUDY)


@pytest.mark.parametrize(
    ("table", "field"),
    [
        ({"tolerence": 1.0}, "tolerence"),
        ({"tolerance": 0}, "tolerance"),
        ({"d_max": 0.1}, "d_max` was removed"),
        ({"tolerance": 1.0, "delta": 1.62}, "must equal `tolerance`"),
        ({"fails": ["adabound.lr"]}, "optimizer.hyperparameter = value"),
        ({"fails": ["adabound.lr = high"]}, "optimizer.hyperparameter = value"),
        ({"bootstrap": 5}, "bootstrap"),
        ({"insensitive": ["adabound"]}, "insensitive"),
        ({"compare": [["adam", "adam"]]}, "compare"),
        ({"ranges": {"adam": {"lr": [1.0, 1e-3]}}}, "low < high"),
    ],
)
def test_bad_tables_are_rejected_naming_the_field(table: dict, field: str) -> None:
    with pytest.raises(ValidationError, match=field):
        ClaimsSpec.model_validate(table)


def test_a_spec_file_carries_its_claims(tmp_path: Path) -> None:
    from hpsearch.spec import load_spec

    path = tmp_path / "s.toml"
    path.write_text(
        'name = "c"\n[task]\nname = "digits-mlp"\n[run]\nseeds = [0, 1]\n'
        "[optimizers.adabound]\nlr = [1e-3, 1.0]\n[optimizers.adam]\nlr = [1e-3, 1.0]\n"
        '[claims]\ntolerance = 2.0\ncompare = [["adabound", "adam"]]\n'
        "[claims.ranges.adabound]\nlr = [1e-3, 1.0]\n"
    )
    spec = load_spec(path)
    assert spec.claims.tolerance == 2.0
    assert spec.claims.ranges == {"adabound": {"lr": (1e-3, 1.0)}}
    # The resolved spec stored with the study reads back into the same claims.
    assert ClaimsSpec.model_validate(spec.resolved()["claims"]) == spec.claims
    path.write_text(path.read_text().replace("tolerance = 2.0", "tolerance = -1"))
    with pytest.raises(UserInputError, match=r"claims\.tolerance"):
        load_spec(path)


@pytest.mark.parametrize(
    ("claims", "says"),
    [
        ('insensitive = ["sgd.lr"]', r"claims\.insensitive: `sgd\.lr` names optimizer `sgd`"),
        ('fails = ["adabound.momentum = 1"]', r"claims\.fails: .*`momentum`"),
        ('fails = ["adabound.lr = 3"]', r"claims\.fails: `adabound\.lr = 3`: 3 is not a value"),
    ],
)
def test_validate_refuses_a_claim_the_study_could_never_decide(
    tmp_path: Path, claims: str, says: str
) -> None:
    """Before any cell runs: a claim on an optimizer or hyperparameter the study does not search,
    or "h = v fails" at a v off the grid, is bad input naming the field (exit 2 in the CLI)."""
    from hpsearch.spec import load_spec

    path = tmp_path / "s.toml"
    path.write_text(
        'name = "c"\n[task]\nname = "digits-mlp"\n[run]\nseeds = [0, 1]\n'
        f"[optimizers.adabound]\nlr = [1e-3, 1.0]\n[claims]\n{claims}\n"
    )
    with pytest.raises(UserInputError, match=says):
        load_spec(path)
    path.write_text(path.read_text().replace(claims, 'fails = ["adabound.lr = 1"]'))
    assert load_spec(path).claims.fails == ["adabound.lr = 1"]


def test_the_removed_divergence_interval_is_refused_in_a_spec_but_ignored_in_a_stored_one() -> None:
    from hpsearch.analysis import claims_of
    from hpsearch.analysis.synthetic import synthetic_study

    with pytest.raises(ValidationError, match="always exact"):
        ClaimsSpec.model_validate({"divergence_interval": "wilson"})
    data = synthetic_study({"adam": {"lr": [0.1, 1.0]}}, lambda o, c: 0.5)
    data.spec = {"claims": {"divergence_interval": "bootstrap", "tolerance": 2.0}}
    assert claims_of(data).tolerance == 2.0
    # A δ stored by an earlier version is read as the claims' m, as W is now.
    data.spec = {"claims": {"tolerance": 2.0, "delta": 1.62}}
    assert claims_of(data).tolerance == 2.0
