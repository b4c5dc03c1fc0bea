"""zh-CN: the audit log's actions by name (dashboard/case_text.py)."""

MESSAGES: dict[str, str] = {
    "suspend": "停用",
    "unsuspend": "恢复启用",
    "failed login": "登录失败",
    "import a settlement file": "导入结算文件",
}
