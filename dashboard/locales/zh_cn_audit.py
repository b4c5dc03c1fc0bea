"""zh-CN: the audit log's actions by name (dashboard/action_text.py)."""

MESSAGES: dict[str, str] = {
    "suspend": "停用",
    "unsuspend": "恢复启用",
    "failed login": "登录失败",
    "import a settlement file": "导入结算文件",
    "set a user's role and password": "设置用户角色和密码",
    "remove a user": "删除用户",
    "added to the inventory automatically": "自动加入设备清单",
    "notification delivered": "通知已送达",
    "notification not delivered": "通知未送达",
}
