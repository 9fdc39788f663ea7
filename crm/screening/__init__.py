"""Screening (商筛选): deciding by evidence, with a manager's approval, which distributors to sign."""
