"""The false-positive hunt: for each normalisation or extraction rule, two *different* answers that the
rule, applied too eagerly, would make equal. Every case here must score "not equal" (a false positive
teaches the policy to game the checker). Each case says which rule it guards and why the answers differ.
"""

from __future__ import annotations

import pytest

from rewards.math import extract_answer, gold_answer, is_equivalent, score, warm_up

# (rule, pred, gold): each pair is mathematically different
NOT_EQUAL = [
    ("thousands commas only at top level: a pair", "(1,100)", "1100"),
    ("thousands commas only at top level: an interval", "[1,100]", "1100"),
    ("thousands commas only at top level: a set", "\\{1,100\\}", "1100"),
    ("thousands commas only at top level: a negative pair", "(-3,500)", "-3500"),
    ("thousands commas only at top level: an interval's bound", "(0,125]", "(0,125)"),
    ("thousands commas need groups of three", "1,22", "122"),
    ("a decimal comma is not read (1,22 is two answers)", "1,22", "1.22"),
    ("explicit separator {,} needs three digits after it", "1{,}5", "15"),
    ("explicit separator ,\\! needs three digits after it", "2,\\! 5", "25"),
    ("space-grouped thousands need groups of three", "1 00", "100"),
    ("doubled backslashes: a real row break before a digit stays", "\\begin{pmatrix}1\\\\2\\end{pmatrix}", "\\begin{pmatrix}12\\end{pmatrix}"),
    ("a trailing backslash is dropped, not a digit", "1\\", "10"),
    ("units: a variable is not a unit", "5x", "5"),
    ("units: 'or' between answers is not a unit", "2 \\text{ or } 3", "2"),
    ("degrees inside a sine are not radians", "\\sin 30^\\circ", "\\sin 30"),
    ("repeating decimals: the bar is not dropped", "0.\\overline{3}", "0.3"),
    ("repeating decimals: the repetend is kept whole", "0.\\overline{16}", "\\frac{1}{6}"),
    ("mixed numbers only for a proper fraction", "2\\frac{3}{2}", "2+\\frac{3}{2}"),
    ("a mixed number is not a product", "3\\frac{1}{2}", "\\frac{3}{2}"),
    ("scientific notation needs digits on both sides", "2e3", "23"),
    ("\\approx: the exact value counts, not the rounding", "x = \\frac{1}{3} \\approx 0.33", "0.33"),
    ("\\approx: the exact value counts, not the rounding (bare)", "\\frac{\\sqrt{3}}{3} \\approx 0.577", "0.577"),
    ("name = value golds: a sum is not a name", "5", "x + y = 5"),
    ("name = value golds: a multiple is not a name", "6", "2x = 6"),
    ("name = value golds: the names' order is kept against bare values", "5, 4", "AB=4,CD=5"),
    ("assignments: another variable is another claim", "y = 3", "x = 3"),
    ("assignments against bare values: in the written order, not sorted by name", "(\\frac{14}{3}, -5)", "x=-5, p=\\frac{14}{3}"),
    ("assignments by name: a swapped value is wrong", "p = -5, x = \\frac{14}{3}", "x = -5, p = \\frac{14}{3}"),
    ("ratios are not reduced (12:00 is not 1:00)", "12:00", "1:00"),
    ("ratios are not reduced", "2:4", "1:2"),
    ("a ratio is not a pair", "7:32", "(7, 32)"),
    ("chained relations: the order of the sides counts", "x < z < y", "x < y < z"),
    ("chained relations: reversed only with the relations flipped", "z < y < x", "x < y < z"),
    ("one-variable relations: the variable counts", "y > 3", "x > 3"),
    ("one-variable relations: |x| is not x (x may be complex)", "-2 < x < 2", "|x| < 2"),
    ("!= is \\ne, not =", "x \\ne 3", "x = 3"),
    ("\\pm inside a set gives both values, not one", "\\{1 \\pm 2\\}", "\\{3\\}"),
    ("\\pm is two answers, not one", "2021", "\\pm 2021"),
    ("a set is not an interval or a pair", "\\{1,3\\}", "(1,3)"),
    ("a list of numbers keeps multiplicities (roots)", "1, 1, 2", "1, 2"),
    ("a list of solution tuples is a set, but every tuple counts", "(1,2), (1,2)", "(1,2), (2,1)"),
    ("matrix products are products, not elementwise", "\\begin{pmatrix}1&2\\\\3&4\\end{pmatrix}\\begin{pmatrix}5&6\\\\7&8\\end{pmatrix}", "\\begin{pmatrix}5&12\\\\21&32\\end{pmatrix}"),
    ("matrix sums are sums", "\\begin{pmatrix}1&2\\end{pmatrix} + \\begin{pmatrix}3&4\\end{pmatrix}", "\\begin{pmatrix}3&8\\end{pmatrix}"),
    ("sums: the bounds count", "\\sum_{k=0}^{n} k", "\\sum_{k=0}^{n-1} k"),
    ("sums with numeric bounds are evaluated exactly", "\\sum_{k=1}^{10} k", "56"),
    ("text: a near spelling is another word", "\\text{oddd}", "odd"),
    ("choices: another letter", "(B)", "(C)"),
    ("all real numbers is not the positive reals", "\\mathbb{R}", "(0, \\infty)"),
    ("the empty set is not {0}", "\\emptyset", "\\{0\\}"),
    ("decimals: a leading zero is not dropped inside", "0.05", ".5"),
    ("no float tolerance", "3.14159", "3.14"),
    ("no float tolerance: a rounded fraction", "0.333333", "\\frac{1}{3}"),
    ("1 - 1/e is not 1 + 1/e", "1 + \\frac{1}{\\mathrm{e}}", "1 - \\frac{1}{\\mathrm{e}}"),
    ("f(x) is not f(y)", "f(y)", "f(x)"),
]

# (rule, completion, gold, extraction mode): the completion's answer is not the gold
NOT_CORRECT = [
    ("box runs: a box corrected by prose is not joined", "\\boxed{1} then, correcting myself, \\boxed{2}", "1, 2", "strict"),
    ("box runs in a gold: prose between boxes ends the run", "\\boxed{1, 2}", "\\boxed{1} no no no no no \\boxed{2}", "strict"),
    ("an answer inside <think> is not the answer", "<think>it is \\boxed{5}</think> so \\boxed{6}", "5", "strict"),
    ("an answer inside <think> is not the answer, even with nothing after", "<think>\\boxed{5}</think> I give up.", "5", "lenient"),
    ("the last marker wins", "The answer is 5. Wait, no: the final answer is 6.", "5", "strict"),
    ("a later 'the answer is correct' is no answer, the box counts", "\\boxed{7}. I think the answer is right.", "right", "strict"),
    ("strict mode reads no bare number", "so it comes to 42", "42", "strict"),
    ("lenient: a number glued to letters is no number", "AZYUK2A", "2", "lenient"),
    ("lenient: the last expression, not the first", "first $3$ and finally $4$", "3", "lenient"),
    ("lenient: an escaped dollar does not close a span", "Answer $ \\frac{1}{2} \\$ = \\frac{10}{9} $", "\\frac{1}{2}", "lenient"),
]


@pytest.fixture(scope="module", autouse=True)
def _workers() -> None:
    warm_up()


@pytest.mark.parametrize("rule, pred, gold", NOT_EQUAL, ids=[r for r, _, _ in NOT_EQUAL])
def test_a_rule_never_makes_different_answers_equal(rule: str, pred: str, gold: str) -> None:
    assert not is_equivalent(pred, gold), rule
    assert not is_equivalent(gold, pred), rule  # nor the other way round


@pytest.mark.parametrize("rule, completion, gold, mode", NOT_CORRECT, ids=[r for r, *_ in NOT_CORRECT])
def test_an_extraction_rule_never_reads_a_wrong_answer_as_right(rule: str, completion: str, gold: str, mode: str) -> None:
    assert score(completion, gold, extraction=mode) in (0.0, None), (rule, extract_answer(completion, mode), gold_answer(gold))
