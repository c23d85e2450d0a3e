"""Money is integer pence everywhere; this is the one place it becomes text."""


def format_pence(pence: int) -> str:
    """4000 -> '£40', 12375 -> '£123.75', 123456 -> '£1,234.56' (GOV.UK style: no '.00')."""
    if pence is None:
        return ""
    sign = "-" if pence < 0 else ""
    pounds, pennies = divmod(abs(int(pence)), 100)
    if pennies:
        return f"{sign}£{pounds:,}.{pennies:02d}"
    return f"{sign}£{pounds:,}"
