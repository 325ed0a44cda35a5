"""Make LaTeX in titles and abstracts readable as plain Unicode text; pure, best effort.

$\\mathcal{O}(n)$ -> O(n), S$^3$ -> S³, $\\frac{\\ell_1}{\\ell_2}$ -> ℓ₁/ℓ₂, {\\it word} -> word.
Anything not understood loses only its backslash and braces, never its letters.
"""

from __future__ import annotations

import re

from digest.sources.text import tex_accents

_SUP = str.maketrans("0123456789+-=()nNiTk", "⁰¹²³⁴⁵⁶⁷⁸⁹⁺⁻⁼⁽⁾ⁿᴺⁱᵀᵏ")
_SUB = str.maketrans("0123456789+-=()aeijknmptx", "₀₁₂₃₄₅₆₇₈₉₊₋₌₍₎ₐₑᵢⱼₖₙₘₚₜₓ")
_SUP_OK = set("0123456789+-=()nNiTk")
_SUB_OK = set("0123456789+-=()aeijknmptx")

SYMBOLS = {
    "alpha": "α",
    "beta": "β",
    "gamma": "γ",
    "delta": "δ",
    "epsilon": "ε",
    "varepsilon": "ε",
    "zeta": "ζ",
    "eta": "η",
    "theta": "θ",
    "kappa": "κ",
    "lambda": "λ",
    "mu": "μ",
    "nu": "ν",
    "xi": "ξ",
    "pi": "π",
    "rho": "ρ",
    "sigma": "σ",
    "tau": "τ",
    "phi": "φ",
    "varphi": "φ",
    "chi": "χ",
    "psi": "ψ",
    "omega": "ω",
    "Gamma": "Γ",
    "Delta": "Δ",
    "Theta": "Θ",
    "Lambda": "Λ",
    "Xi": "Ξ",
    "Pi": "Π",
    "Sigma": "Σ",
    "Phi": "Φ",
    "Psi": "Ψ",
    "Omega": "Ω",
    "ell": "ℓ",
    "infty": "∞",
    "cdot": "·",
    "times": "×",
    "leq": "≤",
    "le": "≤",
    "geq": "≥",
    "ge": "≥",
    "neq": "≠",
    "approx": "≈",
    "sim": "~",
    "pm": "±",
    "to": "→",
    "rightarrow": "→",
    "leftarrow": "←",
    "in": "∈",
    "sum": "Σ",
    "prod": "Π",
    "partial": "∂",
    "nabla": "∇",
    "sqrt": "√",
    "log": "log",
    "exp": "exp",
    "min": "min",
    "max": "max",
    "ldots": "…",
    "dots": "…",
    "cdots": "⋯",
    "%": "%",
    "&": "&",
    "_": "_",
    "#": "#",
    "$": "$",
}
_BB = {"R": "ℝ", "N": "ℕ", "Z": "ℤ", "Q": "ℚ", "C": "ℂ"}
_GROUP = r"\{([^{}]*)\}"
_STYLED = r"\\(?:mathcal|mathbf|mathrm|mathit|mathsf|mathtt|text|textrm|operatorname|boldsymbol)"
_MATH = re.compile(r"(?<!\\)\$(.+?)(?<!\\)\$")


def _script(body: str, table: dict[int, int], allowed: set[str], mark: str) -> str:
    if body and set(body) <= allowed:
        return body.translate(table)
    return f"{mark}({body})" if len(body) > 1 else f"{mark}{body}"


def _math(expr: str) -> str:
    out = expr
    out = re.sub(r"\\mathbb" + _GROUP, lambda m: _BB.get(m.group(1), m.group(1)), out)
    out = re.sub(
        r"\\(?:mathcal|mathbf|mathrm|mathit|mathsf|mathtt|text|textrm|operatorname|boldsymbol)"
        + _GROUP,
        r"\1",
        out,
    )
    for _ in range(3):  # nested fractions, innermost first
        out = re.sub(r"\\[dt]?frac" + _GROUP + _GROUP, r"\1/\2", out)
    out = re.sub(r"\\sqrt" + _GROUP, r"√\1", out)
    out = re.sub(r"\\([A-Za-z]+|[%&_#$])", lambda m: SYMBOLS.get(m.group(1), m.group(1)), out)
    out = re.sub(r"\^" + _GROUP, lambda m: _script(m.group(1), _SUP, _SUP_OK, "^"), out)
    out = re.sub(r"\^(\S)", lambda m: _script(m.group(1), _SUP, _SUP_OK, "^"), out)
    out = re.sub(r"_" + _GROUP, lambda m: _script(m.group(1), _SUB, _SUB_OK, "_"), out)
    out = re.sub(r"_(\S)", lambda m: _script(m.group(1), _SUB, _SUB_OK, "_"), out)
    return out.replace("{", "").replace("}", "").replace("~", " ")


def readable(text: str) -> str:
    """`text` with inline math, TeX accents and common text-mode macros as readable Unicode."""
    if "$" not in text and "\\" not in text:
        return text
    out = _MATH.sub(lambda m: _math(m.group(1)), text)
    out = tex_accents(out)
    out = re.sub(r"\{\\(?:it|bf|em|sl|sc|tt|rm)\s+([^{}]*)\}", r"\1", out)
    out = re.sub(r"\\(?:textit|textbf|emph|texttt|textsc|underline)" + _GROUP, r"\1", out)
    out = re.sub(r"\\([%&_#$])", r"\1", out)
    return out
