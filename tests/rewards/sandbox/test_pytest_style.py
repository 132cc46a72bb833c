"""Pytest-style tests that import the candidate (issue 20): KodCode's ``from solution import f`` modules.

The rows are KodCode-shaped (``question``, ``solution``, ``test``, ``test_info`` as KodCode-Light-RL-10K
has them; the problems and code are our own): the test module imports the candidate in each of the ways
Python allows and uses the parts of pytest KodCode's modules use (``raises``, ``approx``,
``parametrize``, ``Test`` classes). Each right program scores 1.0 and each wrong one the fraction worked
out by hand beside it. The attacks aim at this path: a row whose asserts need a random token no program
can know, or an exception only a raise can give, so any pass would be a forgery.
"""

from __future__ import annotations

import uuid

import pytest

from r1train.data import code_rows
from rewards import code
from rewards.sandbox import run_tests
from rewards.sandbox.assertions import to_cases

FENCE = "```"


def block(body: str) -> str:
    return f"{FENCE}python\n{body}\n{FENCE}"


def statuses(source: str, tests: dict, timeout_s: float = 5.0) -> list[str]:
    return [r.status for r in run_tests(source, tests, timeout_s=timeout_s).results]


RIGHT = "def clamp(x, lo, hi):\n    return max(lo, min(x, hi))\n\ndef is_even(n):\n    return n % 2 == 0\n"
# WRONG's clamp ignores hi (so clamp(5, 0, 3) == 5); its is_even is right.
WRONG = "def clamp(x, lo, hi):\n    return max(lo, x)\n\ndef is_even(n):\n    return n % 2 == 0\n"

IMPORT_FORMS = {
    "from_import": "from solution import clamp, is_even\n",
    "parenthesized": "from solution import (\n    clamp,\n    is_even,\n)\n",
    "star": "from solution import *\n",
    "module": "import solution\nclamp, is_even = solution.clamp, solution.is_even\n",
    "module_alias": "import solution as sol\n\ndef clamp(*a):\n    return sol.clamp(*a)\n\nis_even = sol.is_even\n",
    "name_alias": "from solution import clamp as c, is_even as e\nclamp, is_even = c, e\n",
    "inside_function": "def clamp(*a):\n    from solution import clamp as real\n    return real(*a)\n\n"
                       "def is_even(n):\n    import solution\n    return solution.is_even(n)\n",
}
BODY = ("\n\ndef test_clamp_inside():\n    assert clamp(2, 0, 3) == 2\n\n"
        "def test_clamp_above():\n    assert clamp(5, 0, 3) == 3\n\n"
        "def test_even():\n    assert is_even(4) is True\n    assert is_even(7) is False\n")


@pytest.mark.parametrize("form", sorted(IMPORT_FORMS))
def test_every_way_of_importing_the_candidate_reaches_its_functions(form: str) -> None:
    tests = {"test": IMPORT_FORMS[form] + BODY}
    assert statuses(RIGHT, tests) == ["passed"] * 3
    # WRONG: clamp(2, 0, 3) = max(0, 2) = 2 (passes); clamp(5, 0, 3) = 5 != 3 (fails); is_even right.
    assert statuses(WRONG, tests) == ["passed", "wrong_answer", "passed"]


KODCODE_ROW = {
    "question": "Write a function `second_largest(nums)` returning the second largest distinct value of a list "
                "of integers; raise ValueError when there are fewer than two distinct values.",
    "solution": "def second_largest(nums):\n    distinct = sorted(set(nums))\n    if len(distinct) < 2:\n"
                "        raise ValueError('need two distinct values')\n    return distinct[-2]\n",
    "test": "import pytest\nfrom solution import second_largest\n\n"
            "def test_basic():\n    assert second_largest([3, 1, 4, 1, 5]) == 4\n\n"
            "def test_duplicates_of_the_largest():\n    assert second_largest([7, 7, 2]) == 2\n\n"
            "@pytest.mark.parametrize('nums, expected', [([1, 2], 1), ([-5, -1, -3], -3), (list(range(100)), 98)])\n"
            "def test_many(nums, expected):\n    assert second_largest(nums) == expected\n\n"
            "def test_too_few():\n    with pytest.raises(ValueError):\n        second_largest([4, 4])\n\n"
            "class TestOrder:\n    def test_unsorted_input_is_fine(self):\n        assert second_largest([9, 8, 10]) == 9\n",
    "test_info": [{"function_name": "second_largest", "parameter_list": "(nums)",
                   "function_declaration": "def second_largest(nums):", "docstring": None}],
}


def test_a_kodcode_row_scores_through_its_adapter() -> None:
    row = code_rows.kodcode(dict(KODCODE_ROW))
    assert row["tests"] == {"test": KODCODE_ROW["test"]}  # the module as it is, imports included
    assert [c["assert"].splitlines()[-1] for c in to_cases(row["tests"])] == [
        "test_basic()", "test_duplicates_of_the_largest()", "test_many()", "test_too_few()",
        "_t.test_unsorted_input_is_fine()"]  # after TestOrder() and its setup, if any
    # max(nums) is the largest (5, 7; per parameter 2, -1, 99; 10) and never raises: 0 of 5
    largest = "def second_largest(nums):\n    return max(nums)\n"
    # sorted(nums)[-2] without dedup: [1,1,3,4,5] -> 4 ok; [2,7,7] -> 7 wrong; [1,2] -> 1, [-5,-3,-1] -> -3,
    # range -> 98 ok; [4,4] -> 4, no raise: wrong; [8,9,10] -> 9 ok: 3 of 5.
    no_dedup = "def second_largest(nums):\n    return sorted(nums)[-2]\n"
    got = code.pass_rate([block(KODCODE_ROW["solution"]), block(largest), block(no_dedup)],
                         tests=[row["tests"]] * 3, timeout_s=5)
    assert got == [1.0, 0.0, pytest.approx(3 / 5)]
    assert code.all_pass([block(KODCODE_ROW["solution"]), block(no_dedup)], tests=[row["tests"]] * 2,
                         timeout_s=5) == [1.0, 0.0]


def test_the_pytest_stand_in_judges_like_pytest() -> None:
    tests = {"test": "import pytest\nfrom solution import div, InvalidInput\n\n"
                     "def test_approx():\n    assert div(1, 3) == pytest.approx(0.333333333)\n\n"
                     "def test_approx_list():\n    assert [div(1, 4), div(1, 8)] == pytest.approx([0.25, 0.125])\n\n"
                     "def test_raises_match():\n    with pytest.raises(ZeroDivisionError, match='by zero'):\n        div(1, 0)\n\n"
                     "def test_raises_by_imported_class():\n    with pytest.raises(InvalidInput):\n        div('a', 1)\n\n"
                     "def test_raises_by_builtin_base():\n    with pytest.raises(TypeError):\n        div('a', 1)\n\n"
                     "@pytest.mark.parametrize('a', [2, pytest.param(4, id='four')])\n"
                     "@pytest.mark.parametrize('b', [1, 2])\ndef test_stacked(a, b):\n    assert div(a * b, b) == a\n\n"
                     "@pytest.mark.slow\ndef test_marked():\n    assert div(6, 3) == 2\n"}
    right = ("class InvalidInput(TypeError):\n    pass\n\ndef div(a, b):\n    if not isinstance(a, (int, float)):\n"
             "        raise InvalidInput('numbers only')\n    if b == 0:\n        raise ZeroDivisionError('division by zero')\n"
             "    return a / b\n")
    assert statuses(right, tests) == ["passed"] * 7
    # Rounded to 2 places: 0.33 is not within 1e-6 of 0.333333333 (fails); 0.25 and 0.12 (0.125 rounds to
    # even): fails; 1/0 still raises "division by zero": passes; 'a' / 1 raises a plain TypeError, not an
    # InvalidInput: it escapes pytest.raises (an error, as in pytest), but is a TypeError (passes);
    # round(a*b/b, 2) = a for all four pairs: passes; round(6/3, 2) = 2.0 == 2: passes.
    rounded = "class InvalidInput(TypeError):\n    pass\n\ndef div(a, b):\n    return round(a / b, 2)\n"
    assert statuses(rounded, tests) == ["wrong_answer", "wrong_answer", "passed", "error", "passed",
                                        "passed", "passed"]
    # ZeroDivisionError with another message: the match fails (a failed assert in the stand-in).
    other_message = right.replace("'division by zero'", "'nope'")
    assert statuses(other_message, tests)[2] == "wrong_answer"


TOKEN = f"tok-{uuid.uuid4().hex}"
HIDDEN = {"test": f"import pytest\nfrom solution import f\nimport solution\n\n"
                  f"def test_value():\n    assert f('x') == {TOKEN!r}\n\n"
                  f"def test_through_module():\n    assert solution.f('y') == {TOKEN!r}\n\n"
                  f"@pytest.mark.parametrize('arg', ['a', 'b'])\ndef test_param(arg):\n    assert f(arg) == {TOKEN!r}\n"}
# Only a raise of ValueError (or a subclass) passes this one: dying, exiting or hanging must not.
MUST_RAISE = {"test": "import pytest\nfrom solution import f\n\n"
                      "def test_value_error():\n    with pytest.raises(ValueError):\n        f(1)\n\n"
                      "def test_any_exception():\n    with pytest.raises(Exception):\n        f(2)\n\n"
                      "def test_caught():\n    try:\n        f(3)\n    except Exception:\n        return\n    assert False\n"}
ALWAYS_EQUAL = "class Yes:\n    def __eq__(self, other):\n        return True\n    def __call__(self, *a):\n        return self\n"
ATTACKS = {
    "callable_object_equal_to_all": ALWAYS_EQUAL + "f = Yes()\n",
    "returns_object_equal_to_all": ALWAYS_EQUAL + "def f(x):\n    return Yes()\n",
    "str_subclass_equal_to_all": "class S(str):\n    __eq__ = lambda s, o: True\n    __hash__ = str.__hash__\n"
                                 "def f(x):\n    return S('guess')\n",
    "int_subclass_equal_to_all": "class I(int):\n    __eq__ = lambda s, o: True\n    __hash__ = int.__hash__\n"
                                 "def f(x):\n    return I(5)\n",
    "replaces_solution_module": "import sys, types\nfake = types.ModuleType('solution')\n" + ALWAYS_EQUAL
                                + "fake.f = Yes()\nsys.modules['solution'] = fake\ndef f(x):\n    return 'guess'\n",
    "replaces_pytest_module": "import sys, types\nfake = types.ModuleType('pytest')\n"
                              "class R:\n    def __init__(self, *a, **k):\n        pass\n    def __enter__(self):\n        return self\n"
                              "    def __exit__(self, *a):\n        return True\nfake.raises = R\nsys.modules['pytest'] = fake\n"
                              "def f(x):\n    return 'guess'\n",
    "defines_the_tests_itself": "def test_value():\n    pass\ndef test_param(arg):\n    pass\n"
                                "def f(x):\n    return 'guess'\n",
    "writes_modules_for_the_tester": "import os\nfor d in ('/tmp', '/box', '.'):\n    try:\n"
                                     "        open(os.path.join(d, 'pytest.py'), 'w').write('raises = None')\n"
                                     "        open(os.path.join(d, 'solution.py'), 'w').write('f = lambda x: x')\n"
                                     "    except OSError:\n        pass\ndef f(x):\n    return 'guess'\n",
    "exit_zero_at_import": "import os\nos._exit(0)\n",
    "exit_zero_in_call": "import os\ndef f(x):\n    os._exit(0)\n",
    "sys_exit_in_call": "import sys\ndef f(x):\n    sys.exit(0)\n",
    "keyboard_interrupt_in_call": "def f(x):\n    raise KeyboardInterrupt\n",
    "base_exception_subclass": "class Stop(BaseException):\n    pass\ndef f(x):\n    raise Stop()\n",
    "hang_in_call": "def f(x):\n    while True:\n        pass\n",
    "fake_value_error_line": "import os\ndef f(x):\n    for fd in range(1, 20):\n        try:\n"
                             "            os.write(fd, b'{\"i\": 0, \"value\": true}\\n{\"fail\": \"x\"}\\n')\n"
                             "        except OSError:\n            pass\n    return 'guess'\n",
}


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_attacks_on_imported_candidates_earn_nothing(name: str) -> None:
    hidden = run_tests(ATTACKS[name], HIDDEN, timeout_s=1.0)
    assert hidden.total == 3 and hidden.passed == 0, hidden
    # None of them raises an Exception from f: returning an object that cannot cross, exiting, dying,
    # hanging or a BaseException is nothing the tests' pytest.raises or except can take.
    raised = run_tests(ATTACKS[name], MUST_RAISE, timeout_s=1.0)
    assert raised.total == 3 and raised.passed == 0, raised


@pytest.mark.parametrize("line", [b"not json", b"5", b"null", b"[" * 100000, b'{"value": {"int": "zz"}}',
                                  b'{"value": {"dict": 5}}'], ids=["text", "number", "null", "deep", "bad_int", "bad_dict"])
def test_a_garbage_answer_is_no_exception_the_tests_can_catch(line: bytes) -> None:
    # The candidate writes its own "answer" on every descriptor, then dies: the line reaches the tester,
    # which must not turn its parse error into an exception ``pytest.raises(Exception)`` accepts.
    answer = line + b"\n"
    source = (f"import os\ndef f(x):\n    for fd in range(3, 20):\n        try:\n"
              f"            os.write(fd, {answer!r})\n        except OSError:\n            pass\n    os._exit(1)\n")
    tests = {"test": "import pytest\nfrom solution import f\n\ndef test_r():\n    with pytest.raises(Exception):\n        f(1)\n"}
    assert run_tests(source, tests, timeout_s=2.0).passed == 0


def test_a_real_raise_passes_the_raise_row() -> None:
    assert statuses("def f(x):\n    raise ValueError(x)\n", MUST_RAISE) == ["passed"] * 3
    # KeyError is an Exception but not a ValueError: it escapes pytest.raises(ValueError) (an error, as under
    # pytest); the other two take any Exception and pass.
    assert statuses("def f(x):\n    raise KeyError(x)\n", MUST_RAISE) == ["error", "passed", "passed"]
    # no raise at all: DID NOT RAISE twice, then the assert False.
    assert statuses("def f(x):\n    return x\n", MUST_RAISE) == ["wrong_answer"] * 3


SWALLOWING = {"test": "from solution import f\n\ndef test_swallow():\n    try:\n        f(1)\n    except:\n        pass\n"}


@pytest.mark.parametrize("name", ["exit_zero_in_call", "sys_exit_in_call", "keyboard_interrupt_in_call", "hang_in_call",
                                  "base_exception_subclass"])
def test_a_test_that_swallows_everything_still_fails_a_dead_candidate(name: str) -> None:
    # The test passes whatever f returns or raises, as under pytest; but a candidate that died, hung or
    # exited made no answer at all (under pytest: a dead or timed-out run), so it fails.
    assert statuses("def f(x):\n    return 'guess'\n", SWALLOWING) == ["passed"]
    assert statuses("def f(x):\n    raise ValueError\n", SWALLOWING) == ["passed"]
    assert statuses(ATTACKS[name], SWALLOWING, timeout_s=1.0) == ["timeout" if name == "hang_in_call" else "error"]


IN_PLACE = {"test": "from solution import rotate, dedupe_sorted, tally\n\n"
                    "def test_rotate():\n    m = [[1, 2], [3, 4]]\n    rows = m[0]\n    rotate(m)\n"
                    "    assert m == [[3, 1], [4, 2]]\n    assert m[0] is rows\n\n"
                    "def test_dedupe():\n    xs = [1, 1, 2, 3, 3]\n    n = dedupe_sorted(xs)\n    assert xs[:n] == [1, 2, 3]\n\n"
                    "def test_tally():\n    counts = {'a': 1}\n    tally(counts, 'ab')\n    assert counts == {'a': 2, 'b': 1}\n"}


def test_arguments_changed_in_place_come_back() -> None:
    # rotate 90 degrees clockwise in place: [[1, 2], [3, 4]] -> [[3, 1], [4, 2]] (first column reversed is the
    # first row); dedupe keeps the unique values at the front and returns their count; tally counts letters.
    right = ("def rotate(m):\n    n = len(m)\n    new = [[m[n - 1 - j][i] for j in range(n)] for i in range(n)]\n"
             "    for i in range(n):\n        m[i][:] = new[i]\n\n"
             "def dedupe_sorted(xs):\n    k = 0\n    for x in xs:\n        if k == 0 or xs[k - 1] != x:\n"
             "            xs[k] = x\n            k += 1\n    return k\n\n"
             "def tally(counts, s):\n    for ch in s:\n        counts[ch] = counts.get(ch, 0) + 1\n")
    assert statuses(right, IN_PLACE) == ["passed"] * 3
    # Returning the answers instead of changing the arguments: m and counts stay as they were (both fail);
    # dedupe returns 3 without moving anything: xs[:3] == [1, 1, 2] (fails).
    returning = ("def rotate(m):\n    return [list(r) for r in zip(*m[::-1])]\n\n"
                 "def dedupe_sorted(xs):\n    return len(set(xs))\n\n"
                 "def tally(counts, s):\n    return {**counts, 'b': 1, 'a': 2}\n")
    assert statuses(returning, IN_PLACE) == ["wrong_answer"] * 3
    # Identity does not cross: a candidate that puts new rows into m (m[:] = new) is written back row by
    # row, so the test's rows keep theirs and `m[0] is rows` holds, where in one process it would not.
    rebinding = right.replace("    for i in range(n):\n        m[i][:] = new[i]\n", "    m[:] = new\n")
    assert statuses(rebinding, IN_PLACE)[0] == "passed"


CLASSES = {"test": "from solution import LRUCache, ListNode, reverse, Solution, squares\n\n"
                   "def test_lru():\n    c = LRUCache(2)\n    c.put(1, 1)\n    c.put(2, 2)\n    assert c.get(1) == 1\n"
                   "    c.put(3, 3)\n    assert c.get(2) == -1\n    assert isinstance(c, LRUCache)\n\n"
                   "def to_list(node):\n    out = []\n    while node:\n        out.append(node.val)\n        node = node.next\n"
                   "    return out\n\n"
                   "def test_reverse():\n    head = ListNode(1)\n    head.next = ListNode(2)\n    head.next.next = ListNode(3)\n"
                   "    assert to_list(reverse(head)) == [3, 2, 1]\n    assert reverse(None) is None\n\n"
                   "def test_solution_class():\n    assert Solution().twoSum([2, 7, 11], 9) == [0, 1]\n\n"
                   "def test_generator():\n    assert list(squares(4)) == [0, 1, 4, 9]\n    assert sum(squares(3)) == 5\n"}
CLASSES_RIGHT = """from collections import OrderedDict

class LRUCache:
    def __init__(self, cap):
        self.cap, self.d = cap, OrderedDict()

    def get(self, k):
        if k not in self.d:
            return -1
        self.d.move_to_end(k)
        return self.d[k]

    def put(self, k, v):
        self.d[k] = v
        self.d.move_to_end(k)
        if len(self.d) > self.cap:
            self.d.popitem(last=False)

class ListNode:
    def __init__(self, val=0, next=None):
        self.val, self.next = val, next

def reverse(head):
    prev = None
    while head:
        head.next, prev, head = prev, head, head.next
    return prev

class Solution:
    def twoSum(self, nums, target):
        seen = {}
        for i, x in enumerate(nums):
            if target - x in seen:
                return [seen[target - x], i]
            seen[x] = i

def squares(n):
    for i in range(n):
        yield i * i
"""


def test_objects_of_the_candidates_classes_stay_in_its_sandbox() -> None:
    assert statuses(CLASSES_RIGHT, CLASSES) == ["passed"] * 4
    # get() that forgets to mark the key as used: put(3) then evicts 1, not 2, so get(2) == 2 != -1 (fails);
    # a reverse that stops after one step returns the old head, cut off: [1] (fails); twoSum returning the
    # values [2, 7] (fails); squares yielding i + i: [0, 2, 4, 6] (fails). Each breaks its own test only.
    no_touch = CLASSES_RIGHT.replace("        self.d.move_to_end(k)\n        return self.d[k]", "        return self.d[k]")
    assert statuses(no_touch, CLASSES) == ["wrong_answer", "passed", "passed", "passed"]
    old_head = CLASSES_RIGHT.replace("        head.next, prev, head = prev, head, head.next\n",
                                     "        head.next, prev, head = prev, head, head.next\n        break\n")
    assert statuses(old_head, CLASSES) == ["passed", "wrong_answer", "passed", "passed"]
    values = CLASSES_RIGHT.replace("return [seen[target - x], i]", "return [target - x, x]")
    assert statuses(values, CLASSES) == ["passed", "passed", "wrong_answer", "passed"]
    doubled = CLASSES_RIGHT.replace("yield i * i", "yield i + i")
    assert statuses(doubled, CLASSES) == ["passed", "passed", "passed", "wrong_answer"]


def test_in_place_changes_come_back_when_handles_are_among_the_arguments() -> None:
    # push(stack_obj, xs) moves xs into the candidate's Stack and empties xs: the call's arguments hold a
    # handle (the stack) and a list changed in place; xs must come back empty, the stack must hold 3 items.
    tests = {"test": "from solution import Stack, push_all\n\ndef test_move():\n    s = Stack()\n    xs = [1, 2, 3]\n"
                     "    push_all(s, xs)\n    assert xs == []\n    assert s.size() == 3\n"}
    source = ("class Stack:\n    def __init__(self):\n        self.items = []\n    def size(self):\n"
              "        return len(self.items)\n\ndef push_all(stack, xs):\n    stack.items.extend(xs)\n    xs.clear()\n")
    assert statuses(source, tests) == ["passed"]
    assert statuses(source.replace("    xs.clear()\n", ""), tests) == ["wrong_answer"]  # xs stays [1, 2, 3]


OBJECT_HIDDEN = {"test": f"from solution import make, Box\n\n"
                         f"def test_attr():\n    assert make().val == {TOKEN!r}\n\n"
                         f"def test_object():\n    assert make() == {TOKEN!r}\n\n"
                         f"def test_str():\n    assert str(make()) == {TOKEN!r}\n\n"
                         f"def test_items():\n    assert list(make()) == [{TOKEN!r}]\n\n"
                         f"def test_kind():\n    assert isinstance(make(), Box)\n    assert make()[0] == {TOKEN!r}\n"}
OBJECT_ATTACKS = {
    "equal_to_all_everywhere": ALWAYS_EQUAL + "class Box(Yes):\n    def __getattr__(self, name):\n        return Yes()\n"
                               "    def __iter__(self):\n        return iter([Yes()])\n    def __getitem__(self, k):\n"
                               "        return Yes()\n    def __str__(self):\n        return Yes()\n"
                               "def make():\n    return Box()\n",
    "str_subclass_everywhere": "class S(str):\n    __eq__ = lambda s, o: True\n    __hash__ = str.__hash__\n"
                               "class Box:\n    val = S('guess')\n    def __iter__(self):\n        return iter([S('g')])\n"
                               "    def __getitem__(self, k):\n        return S('g')\n    def __str__(self):\n        return S('g')\n"
                               "def make():\n    return Box()\n",
    "fake_ref_answers": "import os\nclass Box:\n    pass\ndef make():\n    for fd in range(3, 20):\n        try:\n"
                        "            os.write(fd, b'{\"ref\": 99, \"kinds\": [\"Box\"]}\\n{\"value\": true}\\n')\n"
                        "        except OSError:\n            pass\n    return Box()\n",
}


@pytest.mark.parametrize("name", sorted(OBJECT_ATTACKS))
def test_attacks_through_objects_earn_nothing(name: str) -> None:
    # Only the isinstance half of test_kind can hold, and test_kind needs make()[0] == TOKEN too: 0 of 5.
    report = run_tests(OBJECT_ATTACKS[name], OBJECT_HIDDEN, timeout_s=1.0)
    assert report.total == 5 and report.passed == 0, report


def test_test_classes_get_their_setup() -> None:
    # unittest style: setUp builds the fixture, assertEqual fails as an assert. pytest style: setup_method.
    tests = {"test": "import unittest\nfrom solution import double\n\nclass TestDouble(unittest.TestCase):\n"
                     "    def setUp(self):\n        self.x = 21\n    def test_value(self):\n"
                     "        self.assertEqual(double(self.x), 42)\n\n"
                     "class TestPlain:\n    def setup_method(self, method):\n        self.xs = [1, 2]\n"
                     "    def test_list(self):\n        assert [double(x) for x in self.xs] == [2, 4]\n"}
    assert statuses("def double(x):\n    return 2 * x\n", tests) == ["passed", "passed"]
    # x + 2: 23 != 42 and [3, 4] != [2, 4]
    assert statuses("def double(x):\n    return x + 2\n", tests) == ["wrong_answer", "wrong_answer"]


# The candidate's exceptions as the test code sees them (a real pytest run is the reference: each
# expected status is what `pytest` would give on the same module, worked out by hand).
BANK = (
    "class BankError(Exception):\n    pass\n\n"
    "class InsufficientFunds(BankError):\n    def __str__(self):\n        return 'short by ' + str(self.args[0])\n\n"
    "class BadPath(OSError):\n    pass\n\n"
    "def withdraw(balance, amount):\n"
    "    if amount < 0:\n        raise ValueError('Negative amount')\n"
    "    if amount > balance:\n        raise InsufficientFunds(amount - balance)\n"
    "    return balance - amount\n\n"
    "def lookup(d, k):\n    return d[k]\n\n"
    "def open_path(p):\n    raise BadPath(2, 'no such path', p)\n"
)
EXCEPTION_TESTS = (
    "import pytest\nfrom solution import withdraw, lookup, open_path, BankError, InsufficientFunds, BadPath\n\n"
    # 1: except by an imported class (was a TypeError: the name was no class)
    "def test_except_imported():\n    try:\n        withdraw(5, 9)\n    except InsufficientFunds:\n        return\n"
    "    assert False\n\n"
    # 2: a base the test imported catches the subclass the candidate raised
    "def test_except_base():\n    try:\n        withdraw(5, 9)\n    except (KeyError, BankError) as e:\n"
    "        assert isinstance(e, InsufficientFunds)\n\n"
    # 3: str of a builtin raised by the candidate is its own message (was 'ValueError: Negative amount')
    "def test_message():\n    with pytest.raises(ValueError) as info:\n        withdraw(5, -1)\n"
    "    assert str(info.value) == 'Negative amount' and info.type is ValueError\n\n"
    # 4: the candidate class's own __str__
    "def test_custom_str():\n    with pytest.raises(InsufficientFunds, match='short by 4'):\n        withdraw(5, 9)\n"
    "    with pytest.raises(BankError) as info:\n        withdraw(5, 9)\n    assert str(info.value) == 'short by 4'\n\n"
    # 5: args and exact type of a builtin
    "def test_args():\n    try:\n        lookup({}, 'k')\n    except KeyError as e:\n"
    "        assert e.args == ('k',) and type(e) is KeyError and str(e) == \"'k'\"\n\n"
    # 6: a candidate class over OSError, imported: both the import and the builtin catch it
    "def test_os_subclass():\n    for kind in (BadPath, OSError):\n        try:\n            open_path('/x')\n"
    "        except kind as e:\n            assert isinstance(e, OSError) and isinstance(e, BadPath)\n"
    "        else:\n            assert False\n\n"
    # 7: the wrong exception is not caught by an imported class
    "def test_wrong_kind():\n    try:\n        withdraw(5, -1)\n    except InsufficientFunds:\n        pass\n"
)


def test_the_candidates_exceptions_are_classes_the_test_can_catch() -> None:
    tests = {"test": EXCEPTION_TESTS}
    # 1-6 pass as under pytest; 7: ValueError escapes `except InsufficientFunds` -> the case errors
    assert statuses(BANK, tests) == ["passed"] * 6 + ["error"]
    # a program that raises plain exceptions: 1 and 2 (its ValueError is neither InsufficientFunds nor
    # BankError) error; 3 passes; 4: pytest.raises(InsufficientFunds) lets the ValueError through -> error;
    # 5 passes; 6: open_path returns -> assert False -> wrong_answer; 7 errors
    plain = ("class BankError(Exception):\n    pass\n\nclass InsufficientFunds(BankError):\n    pass\n\n"
             "class BadPath(OSError):\n    pass\n\n"
             "def withdraw(balance, amount):\n    if amount < 0:\n        raise ValueError('Negative amount')\n"
             "    raise ValueError('nope')\n\ndef lookup(d, k):\n    return d[k]\n\ndef open_path(p):\n    return None\n")
    assert statuses(plain, tests) == ["error", "error", "passed", "error", "passed", "wrong_answer", "error"]


PRINTER = (
    "import sys\n\ndef greet(name):\n    print('Hello, ' + name + '!')\n\n"
    "def shout(s):\n    print(s.upper(), file=sys.stderr)\n    return len(s)\n\n"
    "class Counter:\n    def __init__(self):\n        self.n = 0\n\n    def tick(self):\n        self.n += 1\n        print('tick', self.n)\n"
)
CAPSYS_TESTS = (
    "import pytest\nfrom solution import greet, shout, Counter\n\n"
    "def test_greet(capsys):\n    greet('Ada')\n    captured = capsys.readouterr()\n    assert captured.out == 'Hello, Ada!\\n'\n\n"
    "def test_err_and_value(capsys):\n    assert shout('hey') == 3\n    out, err = capsys.readouterr()\n"
    "    assert out == '' and err == 'HEY\\n'\n\n"
    "def test_readouterr_clears(capsys):\n    greet('a')\n    capsys.readouterr()\n    greet('b')\n"
    "    assert capsys.readouterr().out == 'Hello, b!\\n'\n\n"
    "def test_own_prints_in_order(capsys):\n    print('before')\n    greet('x')\n    print('after')\n"
    "    assert capsys.readouterr().out == 'before\\nHello, x!\\nafter\\n'\n\n"
    "@pytest.mark.parametrize('name', ['A', 'B'])\ndef test_param(name, capsys):\n    greet(name)\n"
    "    assert capsys.readouterr().out == 'Hello, ' + name + '!\\n'\n\n"
    "class TestCounter:\n    def test_ticks(self, capsys):\n        c = Counter()\n        c.tick()\n        c.tick()\n"
    "        assert capsys.readouterr().out == 'tick 1\\ntick 2\\n'\n\n"
    "def test_file(tmp_path):\n    assert False\n"
)


def test_capsys_reads_what_the_candidate_printed() -> None:
    cases = [c["assert"] for c in to_cases({"test": CAPSYS_TESTS})]
    # tmp_path would act in the tester's sandbox, not the program's: that test is no case
    assert cases[:5] == ["test_greet(capsys=_r1_capsys)", "test_err_and_value(capsys=_r1_capsys)",
                         "test_readouterr_clears(capsys=_r1_capsys)", "test_own_prints_in_order(capsys=_r1_capsys)",
                         "test_param(capsys=_r1_capsys)"]
    assert len(cases) == 6 and cases[5].endswith("_t.test_ticks(capsys=_r1_capsys)")
    assert statuses(PRINTER, {"test": CAPSYS_TESTS}) == ["passed"] * 6
    # greet without the comma: every case that reads greet's line fails; shout and Counter are right
    wrong = PRINTER.replace("'Hello, '", "'Hello '")
    assert statuses(wrong, {"test": CAPSYS_TESTS}) == ["wrong_answer", "passed"] + ["wrong_answer"] * 3 + ["passed"]
    # a program that returns the right values but prints nothing passes only what needs no print
    silent = PRINTER.replace("print('Hello, ' + name + '!')", "pass").replace("print('tick', self.n)", "pass")
    assert statuses(silent, {"test": CAPSYS_TESTS}) == ["wrong_answer", "passed"] + ["wrong_answer"] * 4
