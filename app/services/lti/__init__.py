"""LTI 1.3 Advantage: the tool's keys, platform registrations, launches, deep linking and grade passback."""
