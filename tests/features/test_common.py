import numpy as np
import pandas as pd
import pytest

from churnml.features._common import group_quantile


@pytest.mark.parametrize("q", [0.5, 0.9, 0.1, 0.0, 1.0, 0.37])
def test_group_quantile_matches_pandas_far_into_a_large_array(q):
    rng = np.random.default_rng(int(q * 100))
    n_groups = 60_000
    codes = rng.integers(0, n_groups, 400_000)
    values = np.round(rng.exponential(12.0, len(codes)), 1)  # waits in minutes, many ties
    got = group_quantile(codes, values, q, n_groups + 5)
    want = pd.Series(values).groupby(codes).quantile(q)
    np.testing.assert_allclose(got[want.index.to_numpy()], want.to_numpy(), rtol=0, atol=1e-12)
    assert np.isnan(got[n_groups:]).all()  # codes without values
