"""Side effects, one class per noun; each method implements an activity of a flow's contract.

    @implements(purchase.PAY)
    async def pay(self, tx_id: UUID) -> PurchaseState: ...

`implements` registers the method under the contract's name (mypy holds it to the contract's
signature) and is the one place where a domain error leaves an activity: as an
`ApplicationError` whose type is the error's code, final unless the error is ours to retry.
"""

import functools
from collections.abc import Awaitable, Callable
from typing import Concatenate, ParamSpec, TypeVar

from temporalio import activity

from core.errors import AppError, to_failure
from workflows.contracts import Activity

P = ParamSpec("P")
R = TypeVar("R")
S = TypeVar("S")

Method = Callable[Concatenate[S, P], Awaitable[R]]


def implements(contract: Activity[P, R]) -> Callable[[Method[S, P, R]], Method[S, P, R]]:
    def register(method: Method[S, P, R]) -> Method[S, P, R]:
        @functools.wraps(method)
        async def run(self: S, *args: P.args, **kwargs: P.kwargs) -> R:
            try:
                return await method(self, *args, **kwargs)
            except AppError as error:
                raise to_failure(error) from error

        return activity.defn(name=contract.name)(run)

    return register
