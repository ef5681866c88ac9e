// Entry point: the styles, and the app mounted on #app.
import { render } from 'preact';
import { App } from './app.tsx';
import './styles/base.css';
import './styles/layout.css';
import './styles/components.css';
import './styles/pages.css';

const root = document.getElementById('app');
if (root !== null) render(<App />, root);
