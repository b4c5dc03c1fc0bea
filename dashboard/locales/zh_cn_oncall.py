"""zh-CN: the On-call page."""

MESSAGES: dict[str, str] = {
    "On call now": "当前值班",
    "No on-call rotation yet: an operator sets one below.": "尚未设置值班轮值：操作员可在下方设置。",
    "Next handovers (14 days)": "接下来的交接班（14 天）",
    "Rotations and overrides": "轮值与临时替班",
    "edit rotations and add overrides": "编辑轮值和添加临时替班",
    "**Set a rotation** (replaces the region's rotation for that tier)": (
        "**设置轮值**（替换该区域此层级的现有轮值）"
    ),
    "Region": "区域",
    "Tier (1 technician, 2 supervisor, 3 manager)": "层级（1 工程师，2 主管，3 经理）",
    "Time zone": "时区",
    "First handover: date (local)": "首次交接：日期（当地）",
    "First handover: time (local)": "首次交接：时间（当地）",
    "Shift length (hours; 168 = one week)": "班次时长（小时；168 = 一周）",
    "People in order, one per line: name, mobile, chat user id": (
        "按顺序填写人员，每行一人：姓名, 手机, IM 用户 ID"
    ),
    "Save rotation": "保存轮值",
    "**Add an override** (someone covers a tier for a while)": "**添加临时替班**（某人临时顶替某一层级）",
    "Name": "姓名",
    "Mobile": "手机",
    "Chat user id (optional)": "IM 用户 ID（可选）",
    "From: date (region's local time)": "开始：日期（区域当地时间）",
    "From: time": "开始：时间",
    "To: date": "结束：日期",
    "To: time": "结束：时间",
    "Note": "备注",
    "Add override": "添加临时替班",
    "**Remove an override**": "**删除临时替班**",
    "Override": "临时替班",
    "Remove override": "删除临时替班",
    "No regions in the inventory yet: import regions first.": "资产清单中还没有区域：请先导入区域。",
    "Line {n}: write name, mobile, chat user id (mobile and id optional).": (
        "第 {n} 行：请填写 姓名, 手机, IM 用户 ID（手机和 ID 可选）。"
    ),
    "#{id} {region} tier {tier}: {name} {starts} - {ends}": (
        "#{id} {region} 第 {tier} 层：{name} {starts} - {ends}"
    ),
    "handed to": "接班人",
}
