// Colour off inside test workers: jest-worker sets FORCE_COLOR when jest runs on a TTY.
process.env.FORCE_COLOR = '0';
delete process.env.NO_COLOR;
