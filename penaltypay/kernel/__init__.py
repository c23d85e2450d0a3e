"""The shared kernel: what every part of penaltypay means the same way (money, time).

Plain Python, no Django, imported by everything and importing nothing of penaltypay.
"""
