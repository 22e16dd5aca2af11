// Loads the dashboard; if its modules cannot load (the package or uPlot was not copied into
// vendor/), says so on the page instead of leaving it blank.
import('./dashboard.js').catch((e) => {
  const fatal = document.getElementById('fatal');
  fatal.hidden = false;
  fatal.textContent = `The dashboard could not load its modules (${e.message}). ` +
    'Build them with `bash scripts/build-www.sh`, which copies the npm package and uPlot into www/vendor/.';
  document.getElementById('live-state').textContent = 'not loaded';
  console.error(e);
});
