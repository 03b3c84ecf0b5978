"""spaCy's ``ner`` and ``parser`` with their greedy transition loop stepped from Python: the same output,
without the GIL taken and dropped millions of times.

``Parser.greedy_parse`` releases the GIL (``with nogil``) around its loop, and inside it every small
helper it calls (``StateC.B_``, ``Begin.is_valid``, ``Vec.arg_max``, ...) takes the GIL and drops it
again: spaCy's and thinc's wheels for Python 3.11 are compiled with Cython's ``profile`` directive, whose
function-exit hook in a ``nogil`` function is a ``PyGILState_Ensure``/``Release`` pair. ``ner`` asks every
one of its ~75 moves whether it is valid at every token, so the pairs run to tens of thousands per article,
each a lock, an unlock and a condition signal on the GIL: the "16 % of samples in ``pthread_mutex_lock``"
of the NLP process's profile. With the GIL held, the same pair is a thread-local read and a counter.

``GreedyTransitions`` drives the loop from Python through the component's own pieces, each holding the
GIL: ``moves.init_batch``, the step model's ``state2vec`` (the precomputed hidden layer, spaCy's
``sum_state_features`` on thinc's blis, as in the loop), the output layer's product on thinc's blis (the
loop's ``sgemm``), and ``transition_states`` (spaCy's ``c_transition_batch``: validity, arg-max, move).
The arithmetic is the loop's, operation for operation, so the scores and the moves are the same bits;
``tests/unit/test_analysis.py`` compares entities and parses with the component's own ``pipe``. One
batch is one loop (spaCy's ``pipe`` splits a batch in four by length): a step costs a few Python calls
whatever the number of states, and the rows of a step do not depend on each other.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import islice
from typing import Any

from spacy.tokens import Doc
from thinc.api import NumpyOps

# thinc's CPU ops on blis: the product the greedy loop's ``sgemm`` makes (``Ops.cblas``)
_BLIS = NumpyOps()


class GreedyTransitions:
    """A transition-based component (``ner``, ``parser``) whose greedy loop runs with the GIL held.

    ``pipe`` and ``__call__`` annotate docs as the component's own do. Beam search, a model without an
    output layer, or ops other than thinc's CPU ops are left to the component."""

    def __init__(self, component: Any) -> None:
        self.component = component
        self.name: str = component.name

    def __call__(self, doc: Doc) -> Doc:
        return next(self.pipe([doc]))

    def pipe(self, docs: Iterable[Doc], *, batch_size: int = 256) -> Iterator[Doc]:
        """Annotate ``docs`` in batches of ``batch_size``, each batch one greedy loop; docs in order."""
        stream = iter(docs)
        while batch := list(islice(stream, batch_size)):
            self.component.set_annotations(batch, self.predict(batch))
            yield from batch

    def predict(self, docs: list[Doc]) -> list[Any]:
        """The final parse states of ``docs``, as ``Parser.predict`` returns them."""
        parser = self.component
        if not self._steppable():
            return list(parser.predict(docs))
        if not any(len(doc) for doc in docs):
            return list(parser.moves.init_batch(docs))
        parser._ensure_labels_are_added(docs)
        batch = list(parser.moves.init_batch(docs))
        model = parser.model.predict(docs)  # the step model: token vectors, the precomputed hidden layer
        upper = model.vec2scores
        weights, bias = upper.get_param("W"), upper.get_param("b")
        unseen = model._class_mask == 0
        any_unseen = bool(unseen.any())
        states = [state for state in batch if not state.is_final()]
        while states:
            hidden = model.state2vec.predict(model.get_token_ids(states))
            scores = _BLIS.gemm(hidden, weights, trans2=True)
            scores += bias
            if any_unseen:  # as the loop does: an unseen move scores the step's minimum
                scores[:, unseen] = scores.min()
            states = parser.transition_states(states, scores)
        model.clear_memory()
        return batch

    def _steppable(self) -> bool:
        """Greedy, with an output layer and a maxout hidden layer on CPU: what the loop above repeats
        (without maxout, ``state2vec`` applies a ReLU that the C loop does not)."""
        parser = self.component
        model = parser.model
        return (
            parser.cfg.get("beam_width", 1) == 1
            and bool(model.attrs.get("has_upper"))
            and model.get_ref("lower").get_dim("nP") >= 2
            and isinstance(model.ops, NumpyOps)
        )


def stepped(component: Any) -> Any:
    """``component`` as ``GreedyTransitions`` if it is transition-based (``ner``, ``parser``), else itself."""
    return GreedyTransitions(component) if hasattr(component, "transition_states") else component
