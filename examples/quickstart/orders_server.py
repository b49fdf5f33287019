"""A small MCP server for the quickstart: an order desk's tools, served over stdio.

agentrt starts it as the `orders` toolkit (see agentrt.yaml), lists its tools
and calls them with the official `mcp` SDK; nothing here knows about agentrt.
"""

from __future__ import annotations

from mcp.server.mcpserver import MCPServer

ORDERS = {
    "A-1001": {"item": "printer", "status": "shipped", "paid": 129.0},
    "A-1002": {"item": "toner", "status": "delayed", "paid": 39.5},
}

server = MCPServer("orders", log_level="WARNING")


@server.tool()
def lookup_order(order_id: str) -> dict[str, object]:
    """An order's item, status and the amount paid."""
    order = ORDERS.get(order_id)
    if order is None:
        raise ValueError(f"no order {order_id}")
    return {"order_id": order_id, **order}


@server.tool()
def refund_order(order_id: str, amount: float) -> str:
    """Refund part or all of an order (agentrt's config makes this one wait for a person's approval)."""
    order = ORDERS[order_id]
    if amount > float(order["paid"]):  # type: ignore[arg-type]
        raise ValueError(f"cannot refund {amount} of an order that paid {order['paid']}")
    return f"refunded {amount:.2f} on {order_id}"


if __name__ == "__main__":
    server.run("stdio")
