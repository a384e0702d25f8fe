"""HTTP API of receivables: the ERP's documents, the credit team's commands, FX rates, statements,
and the ledger's reads and aging; one router, gathered from the modules by concern."""

from fastapi import APIRouter

from services.receivables.api import accounts, aging, erp, fx, kpis, ledger, statements

router = APIRouter(tags=["receivables"])
for part in (erp, accounts, fx, statements, ledger, aging, kpis):
    router.include_router(part.router)

__all__ = ["router"]
