import { render } from "preact";
import { App } from "./App";
import "./styles.css";
import { lang } from "./i18n";

document.documentElement.lang = lang.value;
const root = document.getElementById("app");
if (root) render(<App />, root);
