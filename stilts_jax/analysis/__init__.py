"""Analyses of results directories, with uncertainty: the questions X-STILTs left open.

    from stilts_jax import analysis, report
    rows = report.load_results(["runs/grid"])
    r = analysis.analyze_similarity(rows, "similarity.csv")   # 1. similarity vs gain
    r = analysis.analyze_multilingual(rows)                   # 2. mnli vs mnli_multilingual
    r = analysis.analyze_typology(rows)                       # 3. URIEL distance vs degradation
    r = analysis.analyze_scaling(rows)                        # 4. mnli@1 ... mnli@100
    r = analysis.analyze_resource(rows)                       # 5. CC-100 low vs high resource
    print(r.to_markdown(r.plot("out/")))

Each `analyze_*` raises AnalysisError when the results lack what it needs. Console script:
`stilts-jax-analyze` (cli.py). See docs/analyses.md.
"""

from stilts_jax.analysis.common import AnalysisError, split_fraction
from stilts_jax.analysis.multilingual import MultilingualResult, analyze_multilingual, detect_pairs
from stilts_jax.analysis.resource import ResourceResult, analyze_resource, resource_group
from stilts_jax.analysis.scaling import ScalingResult, analyze_scaling
from stilts_jax.analysis.similarity import (SimilarityResult, analyze_similarity,
                                            embedding_similarity, format_match,
                                            load_similarity_table)
from stilts_jax.analysis.stats import (Correlation, Estimate, PermutationTest, bootstrap,
                                       correlation, mean_ci, pearson, rankdata, sign_flip_test,
                                       spearman, two_sample_test)
from stilts_jax.analysis.typology import (TypologyResult, analyze_typology,
                                          distance_table_from_lang2vec)
from stilts_jax.analysis.typology_data import CC100, DISTANCE_KINDS, DISTANCES_FROM_ENGLISH

__all__ = [
    "AnalysisError", "CC100", "Correlation", "DISTANCES_FROM_ENGLISH", "DISTANCE_KINDS",
    "Estimate", "MultilingualResult", "PermutationTest", "ResourceResult", "ScalingResult",
    "SimilarityResult", "TypologyResult", "analyze_multilingual", "analyze_resource",
    "analyze_scaling", "analyze_similarity", "analyze_typology", "bootstrap", "correlation",
    "detect_pairs", "distance_table_from_lang2vec", "embedding_similarity", "format_match",
    "load_similarity_table", "mean_ci", "pearson", "rankdata", "resource_group", "sign_flip_test",
    "spearman", "split_fraction", "two_sample_test",
]
