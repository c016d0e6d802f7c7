"""Every word a user reads: comment and header text, the content view, JSON Lines, the HTML report.

Imports the stages below it; nothing imports it but the addon and the tools.
"""
