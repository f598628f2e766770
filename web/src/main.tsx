import { createRoot } from "react-dom/client";
import { takeTokenFromUrl } from "./api.ts";
import { App } from "./App.tsx";

takeTokenFromUrl();
createRoot(document.getElementById("root")!).render(<App />);
