/* Interface strings: Chinese by default, English available. */
"use strict";
const STRINGS = {
  zh: {
    title: "出口水产品装箱远程视频监管", logout: "退出",
    "nav.clips": "视频片段", "nav.events": "事件",
    "login.heading": "监管人员登录", "login.username": "用户名", "login.password": "密码",
    "login.submit": "登录", "login.failed": "用户名或密码错误",
    "f.site": "企业/场所", "f.camera": "摄像机", "f.kind": "事件类型", "f.start": "开始时间",
    "f.end": "结束时间", "f.search": "查询",
    more: "加载更多", empty: "没有符合条件的记录", download: "下载视频",
    "col.time": "时间", "col.site": "场所", "col.camera": "摄像机", "col.kind": "类型",
    "col.duration": "时长", "col.size": "大小", "col.verified": "校验", "col.device": "设备",
    "col.clock": "时钟", yes: "已校验", no: "未校验", synced: "已同步", unsynced: "未同步",
    "fact.sha256": "SHA-256", "fact.start": "开始", "fact.end": "结束", "fact.events": "关联事件",
    "fact.received": "接收时间", "fact.name": "文件名",
    "kind.mark": "人工标记", "kind.metal_detector_reject": "金属探测剔除",
    "kind.metal_detector_pass": "金属探测通过", "kind.seal_applied": "施封",
    "kind.seal_broken": "封识破损", "kind.door_open": "箱门打开", "kind.loading_start": "开始装箱",
    "kind.loading_end": "结束装箱", "kind.camera_fault": "摄像机故障", "kind.device_fault": "设备故障",
    "kind.fault_cleared": "故障恢复", "kind.custom": "自定义",
    "err.session": "登录已过期，请重新登录", "err.load": "加载失败",
    "login.locked": "登录失败次数过多，请 {s} 秒后再试",
    "login.terminal": "此账号只能在已登记的监控终端上登录",
    "terminal.heading": "本机终端登记", "terminal.secret": "终端密钥", "terminal.save": "登记",
    "terminal.clear": "清除登记", "terminal.registered": "本机已登记为监控终端",
    "terminal.none": "本机未登记", "terminal.hint": "终端密钥由管理员发放，仅保存在本机浏览器中",
  },
  en: {
    title: "Remote supervision of export seafood loading", logout: "Sign out",
    "nav.clips": "Clips", "nav.events": "Events",
    "login.heading": "Inspector sign-in", "login.username": "User name", "login.password": "Password",
    "login.submit": "Sign in", "login.failed": "Wrong user name or password",
    "f.site": "Site", "f.camera": "Camera", "f.kind": "Event kind", "f.start": "From", "f.end": "To",
    "f.search": "Search",
    more: "Load more", empty: "Nothing matches", download: "Download video",
    "col.time": "Time", "col.site": "Site", "col.camera": "Camera", "col.kind": "Kind",
    "col.duration": "Length", "col.size": "Size", "col.verified": "Verified", "col.device": "Device",
    "col.clock": "Clock", yes: "verified", no: "not verified", synced: "synchronised",
    unsynced: "not synchronised",
    "fact.sha256": "SHA-256", "fact.start": "Start", "fact.end": "End", "fact.events": "Events",
    "fact.received": "Received", "fact.name": "File name",
    "kind.mark": "Manual mark", "kind.metal_detector_reject": "Metal detector reject",
    "kind.metal_detector_pass": "Metal detector pass", "kind.seal_applied": "Seal applied",
    "kind.seal_broken": "Seal broken", "kind.door_open": "Door open",
    "kind.loading_start": "Loading started", "kind.loading_end": "Loading ended",
    "kind.camera_fault": "Camera fault", "kind.device_fault": "Device fault",
    "kind.fault_cleared": "Fault cleared", "kind.custom": "Custom",
    "err.session": "Your session expired; sign in again", "err.load": "Could not load",
    "login.locked": "Too many failed sign-ins; try again in {s} s",
    "login.terminal": "This account signs in only from a registered monitoring terminal",
    "terminal.heading": "Register this terminal", "terminal.secret": "Terminal secret",
    "terminal.save": "Register", "terminal.clear": "Remove registration",
    "terminal.registered": "This computer is a registered monitoring terminal",
    "terminal.none": "This computer is not registered",
    "terminal.hint": "An administrator issues the secret; it is kept only in this browser",
  },
};
let LANG = localStorage.getItem("rw.lang") || "zh";
function t(key) { return (STRINGS[LANG] && STRINGS[LANG][key]) || STRINGS.en[key] || key; }
function applyStrings() {
  document.documentElement.lang = LANG === "zh" ? "zh-CN" : "en";
  document.querySelectorAll("[data-i18n]").forEach((el) => { el.textContent = t(el.dataset.i18n); });
  document.title = "ReeferWatch · " + t("title");
}
