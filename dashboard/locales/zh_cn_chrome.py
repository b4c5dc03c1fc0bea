"""zh-CN: Streamlit's own words, shown by dashboard.chrome in their place."""

MESSAGES: dict[str, str] = {
    "Choose a file": "选择文件",
    "CSV file, at most {mb} MB": "CSV 文件，最大 {mb} MB",
    "Drop the file here": "将文件拖放到此处",
    "Press Enter to apply": "按 Enter 键应用",
    "Press Enter to submit the form": "按 Enter 键提交表单",
    "Press Ctrl+Enter (⌘+Enter on a Mac) to submit the form": "按 Ctrl+Enter（Mac 上为 ⌘+Enter）提交表单",
    "Skip to main content": "跳到主要内容",
}
